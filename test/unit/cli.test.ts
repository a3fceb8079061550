import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { flagOf, envOf } from '../../common/config.js';
import type { Command } from '../../cli/command.js';

const bin = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));
const COMMANDS = ['setup', 'indexer', 'agent', 'events', 'flows', 'local'];

const procflow = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, PROCFLOW_LOG_LEVEL: 'silent' } });

test('procflow --help names every command', () => {
  const r = procflow('--help');
  assert.equal(r.status, 0, r.stderr);
  for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
});

for (const name of COMMANDS) {
  test(`procflow ${name} --help lists every setting as flag and PROCFLOW_ variable`, async () => {
    const cmd = ((await import(`../../cli/commands/${name}.js`)) as { default: Command }).default;
    const r = procflow(name, '--help');
    assert.equal(r.status, 0, r.stderr);
    for (const key of Object.keys(cmd.settings)) {
      assert.ok(r.stdout.includes(flagOf(key)), `${name} --help lacks ${flagOf(key)}`);
      assert.ok(r.stdout.includes(envOf(key)), `${name} --help lacks ${envOf(key)}`);
    }
  });
}

test('an unknown command or flag exits non-zero with a sentence, not a stack trace', () => {
  const a = procflow('frobnicate');
  assert.equal(a.status, 2);
  assert.match(a.stderr, /unknown command "frobnicate"/);
  const b = procflow('setup', '--frobnicate');
  assert.equal(b.status, 1);
  assert.match(b.stderr, /unknown option "--frobnicate"/);
  assert.doesNotMatch(b.stderr, /at .*\.js:\d+/);
});
