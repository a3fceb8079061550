import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { flagOf, envOf } from '../../common/config.js';
import type { Command } from '../../cli/command.js';

const bin = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));
const COMMANDS = ['setup', 'indexer', 'agent', 'events', 'flows', 'dns', 'local'];

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

test('settings that would wedge the indexer or delete fresh data are refused before anything starts', () => {
  // 127.0.0.1:9 answers nothing: a command that got past its checks would hang or fail differently.
  const base = ['--es-url', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--token', 't', '--wait-timeout', '1s'];
  // An indexer that got past its checks would run until killed: the timeout ends it (status null).
  const indexer = (...extra: string[]) =>
    spawnSync(process.execPath, [bin, 'indexer', ...base.filter((a) => a !== '--wait-timeout' && a !== '1s'), ...extra], {
      encoding: 'utf8',
      timeout: 15_000,
      env: { ...process.env, PROCFLOW_LOG_LEVEL: 'silent' },
    });

  // A batch larger than the in-flight byte budget could never be admitted: 503 forever.
  const budget = indexer('--max-body-size', '32mb', '--max-in-flight-bytes', '16mb');
  assert.equal(budget.status, 1, budget.stderr);
  assert.match(budget.stderr, /--max-in-flight-bytes/);
  assert.match(budget.stderr, /--max-body-size/);

  const none = indexer('--max-in-flight-requests', '0');
  assert.equal(none.status, 1, none.stderr);
  assert.match(none.stderr, /--max-in-flight-requests/);

  const noDocs = indexer('--max-batch-docs', '0');
  assert.equal(noDocs.status, 1, noDocs.stderr);
  assert.match(noDocs.stderr, /--max-batch-docs/);

  // ILM would delete every index as soon as it is created.
  const setup = procflow('setup', '--es-url', 'http://127.0.0.1:9', '--wait-timeout', '1s', '--retention-days', '0');
  assert.equal(setup.status, 1, setup.stderr);
  assert.match(setup.stderr, /--retention-days/);
  const indexerRetention = indexer('--retention-days', '0');
  assert.equal(indexerRetention.status, 1, indexerRetention.stderr);
  assert.match(indexerRetention.stderr, /--retention-days/);
});

test('an indexer whose --listen port is taken says so and how to fix it', async () => {
  const { createServer } = await import('node:net');
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  const port = (holder.address() as { port: number }).port;
  try {
    const r = procflow('indexer', '--es-url', 'http://127.0.0.1:1', '--token', 't', '--listen', `127.0.0.1:${port}`, '--install-templates=false');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
    assert.match(r.stderr, /another process \(another indexer\?\) holds the port.*--listen HOST:PORT \(PROCFLOW_LISTEN\)/);
  } finally {
    holder.close();
  }
});
