// The Node.js procflow runs on, stated in a few places that must agree: package.json's engines
// (the oldest accepted), .node-version (what scripts/node-env.sh installs when the machine's node
// is older), @types/node, and the images the Dockerfile builds and runs on. And the tests
// themselves run on it: `npm test` makes sure of that even when an older npm started it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../../local-services/elasticsearch.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; devDependencies: Record<string, string> };
const numbers = (v: string) => v.split('.').map(Number);
/** a >= b, comparing dotted numbers (missing parts count as 0). */
const atLeast = (a: string, b: string) => {
  const [x, y] = [numbers(a), numbers(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return true;
};

const minimum = /^>=(\d+\.\d+(?:\.\d+)?)$/.exec(pkg.engines.node)?.[1];
const major = minimum?.split('.')[0];

test('package.json, .node-version, @types/node and the Dockerfile name one Node.js major', () => {
  assert.ok(minimum, `engines.node is ">=X.Y" (scripts/node-env.sh reads it), not ${JSON.stringify(pkg.engines.node)}`);
  const pinned = read('.node-version').trim();
  assert.match(pinned, /^\d+\.\d+\.\d+$/, '.node-version holds one X.Y.Z line');
  assert.ok(atLeast(pinned, minimum), `.node-version ${pinned} satisfies engines ${pkg.engines.node}`);
  assert.equal(pinned.split('.')[0], major, '.node-version is of the engines major');
  assert.match(pkg.devDependencies['@types/node']!, new RegExp(`^\\^${major}\\.`), '@types/node is of the engines major');
  const images = [...read('Dockerfile').matchAll(/^FROM\s+node:(\d+)-/gm)].map((m) => m[1]);
  assert.deepEqual(images, [major, major], 'the build and runtime images are of the engines major');
  const readme = read('README.md');
  const said = `procflow runs on Node.js ${major} (\`engines\` in package.json: ${minimum} or newer)`;
  assert.ok(readme.replace(/\s+/g, ' ').includes(said), `the README says "${said}"`);
  assert.match(readme, new RegExp(`\`node:${major}-bookworm-slim\``), "the README names the image's base");
});

test('the tests run on a Node.js that engines accepts', () => {
  assert.ok(atLeast(process.versions.node, minimum!), `node ${process.version} (${process.execPath}) is older than engines ${pkg.engines.node}: run the tests with npm test, which installs and uses Node.js ${read('.node-version').trim()}`);
});

test('scripts/node-env.sh keeps Node.js where cacheDir() keeps the other downloads, and compares versions', () => {
  // With this node first on PATH, node-env.sh takes it as it is and installs nothing.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  const inBash = (script: string, extra: Record<string, string> = {}) => {
    const r = spawnSync('bash', ['-c', `set -euo pipefail; source scripts/node-env.sh; ${script}`], { cwd: root, env: { ...env, ...extra }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'quiet when there is nothing to install');
    return r.stdout.trim();
  };
  assert.equal(inBash('procflow_cache_dir'), cacheDir());
  assert.equal(inBash('procflow_cache_dir', { PROCFLOW_CACHE_DIR: '/srv/procflow-cache' }), '/srv/procflow-cache');
  assert.equal(inBash('command -v node'), process.execPath);
  const cases: Array<[string, string, boolean]> = [['24.11.0', '24.11', true], ['24.9.1', '24.11', false], ['24.22.3', '24.22.3', true], ['25.0.0', '24.11', true], ['20.20.2', '24.11', false]];
  for (const [have, min, ok] of cases) {
    assert.equal(inBash(`procflow_version_at_least ${have} ${min} && echo yes || echo no`), ok ? 'yes' : 'no', `${have} >= ${min}`);
    assert.equal(atLeast(have, min), ok);
  }
});
