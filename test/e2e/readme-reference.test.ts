// The README stays true: its generated reference sections match the settings tables and the
// schema, every `procflow <command> --flag` it shows exists, and every file it points to exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { README_PATH, renderReadme } from '../../docs-gen/readme.js';
import { COMMAND_NAMES, loadCommand } from '../../cli/invocation.js';
import { flagOf } from '../../common/config.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(README_PATH, 'utf8');

test('the configuration and field reference sections are what the code generates', async () => {
  assert.equal(readme, await renderReadme(readme), 'README.md is stale: run `node dist/docs-gen/readme.js` and commit it');
  for (const name of COMMAND_NAMES) assert.match(readme, new RegExp(`### procflow ${name}\\n`));
  for (const field of ['process_name', 'process_args', 'bytes_out', 'process_exec.process.binary', 'process_exit.status']) assert.ok(readme.includes(`| \`${field}\` |`), field);
});

test('every procflow command and flag the README shows exists', async () => {
  const uses = [...readme.matchAll(/procflow (setup|indexer|agent|events|flows|local)((?: +(?:--[a-z-]+|[A-Za-z0-9_./:*$=-]+|\[[^\]]*\]))*)/g)];
  assert.ok(uses.length >= 5);
  for (const [text, name, rest] of uses) {
    const cmd = await loadCommand(name!);
    assert.ok(cmd, text);
    const known = new Set(Object.keys(cmd.settings).map(flagOf));
    for (const flag of rest!.match(/--[a-z-]+/g) ?? []) assert.ok(known.has(flag), `README: "${text.trim()}" uses ${flag}, which procflow ${name} does not have`);
  }
  // npm start passes its arguments to procflow local.
  const local = (await loadCommand('local'))!;
  const localFlags = new Set(Object.keys(local.settings).map(flagOf));
  for (const m of readme.matchAll(/npm start -- ([^`\n]+)/g)) for (const flag of m[1]!.match(/--[a-z-]+/g) ?? []) assert.ok(localFlags.has(flag), `npm start -- ${flag}`);
  assert.match(readFileSync(join(root, 'scripts/local-stack.sh'), 'utf8'), /procflow\.js local "\$@"/, 'npm start runs procflow local with its arguments');
});

test('every repository path the README names exists', () => {
  const paths = [...readme.matchAll(/`((?:deploy|kibana|schema|scripts|native|bpf)\/[^`*\s]*|docker-compose\.yml|Dockerfile|\.env\.example)`/g)].map((m) => m[1]!);
  assert.ok(paths.length >= 5);
  for (const p of paths) assert.ok(existsSync(join(root, p.replace(/\/$/, ''))), `README names ${p}`);
});
