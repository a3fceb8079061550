// `procflow events -o compact` is one line per event: arguments holding newlines or terminal
// escape sequences (any process on the node chooses its own argv) are printed escaped, so they
// can neither split a line nor drive the viewer's terminal; -o json keeps them as they were.
// An --event-types value that matches no event is refused up front.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { agentDefaults } from '../../agent/config.js';
import { startAgent } from '../../agent/run.js';
import { SyntheticCollector, execEvent, exitEvent } from '../../agent/synthetic.js';

const CLI = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));
const S = 1_000_000_000n;

/** Runs `procflow events ARGS` until it has printed `count` lines (or `timeoutMs` passed). */
async function eventsOutput(args: string[], count: number, produce: () => void): Promise<string[]> {
  const child = spawn(process.execPath, [CLI, 'events', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string[]>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n').filter(Boolean);
      if (lines.length >= count) {
        // Let a line that would wrongly be split arrive too, then stop.
        setTimeout(() => {
          child.kill('SIGINT');
          resolve(out.split('\n').filter(Boolean));
        }, 300);
      }
    });
    child.once('exit', (code) => reject(new Error(`events exited ${code}: ${err}`)));
  });
  await new Promise((r) => setTimeout(r, 700)); // let it connect
  produce();
  return done;
}

test('procflow events -o compact escapes newlines and terminal escapes in arguments', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-events-ctl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const collector = new SyntheticCollector();
  const running = await startAgent(
    agentDefaults({ output: 'ndjson', process_events: false, node_name: 'ctl-node', flush_interval: 3_600_000, procfs_scan: false, spool_dir: dir, listen: '127.0.0.1:0' }),
    { collector, log: pino({ level: 'silent' }) },
  );
  t.after(() => running.shutdown());
  const args = ['-c', 'echo one\necho two\r', '\u001b]0;owned\u0007\ttab'];
  const emit = () => {
    collector.emit([execEvent(91, 5n * S, '/usr/bin/sh', args)]);
    collector.emit([exitEvent(91, 5n * S, 0)]);
  };
  const compact = await eventsOutput(['--agent-url', running.server.url, '-o', 'compact'], 2, emit);
  assert.deepEqual(compact, [
    '🚀 process ctl-node /usr/bin/sh -c echo one\\necho two\\r \\x1b]0;owned\\x07\\ttab',
    '💥 exit    ctl-node /usr/bin/sh -c echo one\\necho two\\r \\x1b]0;owned\\x07\\ttab 0',
  ]);
  const json = await eventsOutput(['--agent-url', running.server.url, '-o', 'json'], 2, emit);
  assert.equal(json.length, 2, 'one JSON document a line');
  const exec = JSON.parse(json[0]!) as { process_exec: { process: { arguments: string } } };
  assert.equal(exec.process_exec.process.arguments, '-c echo one\necho two\r \u001b]0;owned\u0007\ttab', 'the document keeps the arguments unchanged');
});

test('procflow events refuses an unknown --event-types value instead of waiting for events that never come', async () => {
  const child = spawn(process.execPath, [CLI, 'events', '--agent-url', 'http://127.0.0.1:9', '--event-types', 'process_exec,process_fork'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 1);
  assert.match(err, /--event-types: unknown event type "process_fork"/);
  assert.match(err, /hint: give process_exec, process_exit or both/);
});
