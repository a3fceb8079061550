// `procflow events` (the CLI, as a child process) against a running agent on a synthetic
// source: the compact lines and the JSON documents, with a binary filter. Compact lines are one
// line per event: arguments holding newlines or terminal escapes (any process chooses its own
// argv) print escaped, so they can neither split a line nor drive the viewer's terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

async function linesFrom(args: string[], count: number, produce: () => void): Promise<string[]> {
  const child = spawn(process.execPath, [CLI, 'events', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string[]>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n').filter(Boolean);
      if (lines.length >= count) {
        child.kill('SIGINT');
        resolve(lines.slice(0, count));
      }
    });
    child.once('exit', (code) => reject(new Error(`events exited ${code}: ${err}`)));
  });
  await new Promise((r) => setTimeout(r, 700)); // let it connect
  produce();
  return done;
}

test('procflow events prints live process events from the agent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-events-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const collector = new SyntheticCollector();
  const running = await startAgent(
    agentDefaults({ output: 'ndjson', process_events: false, node_name: 'cli-node', flush_interval: 3_600_000, procfs_scan: false, spool_dir: dir, listen: '127.0.0.1:0' }),
    { collector, log: pino({ level: 'silent' }) },
  );
  t.after(() => running.shutdown());
  const emit = () => {
    collector.emit([execEvent(77, 5n * S, '/usr/bin/curl', ['-s', 'https://u:pw@example.com/'])]);
    collector.emit([execEvent(78, 6n * S, '/usr/bin/whoami', ['--version'])]);
    collector.emit([exitEvent(78, 6n * S, 0)]);
    collector.emit([exitEvent(77, 5n * S, 0, 9)]);
  };
  const compact = await linesFrom(['--agent-url', running.server.url, '-o', 'compact'], 4, emit);
  assert.deepEqual(compact, [
    '🚀 process cli-node /usr/bin/curl -s https://u:*****@example.com/',
    '🚀 process cli-node /usr/bin/whoami --version',
    '💥 exit    cli-node /usr/bin/whoami --version 0',
    '💥 exit    cli-node /usr/bin/curl -s https://u:*****@example.com/ SIGKILL',
  ]);
  const json = await linesFrom(['--agent-url', running.server.url, '-o', 'json', '--binary', 'whoami$'], 2, emit);
  const docs = json.map((l) => JSON.parse(l) as { event_type: string; process_exec?: { process: { binary: string } }; process_exit?: { process: { binary: string } } });
  assert.deepEqual(docs.map((d) => d.event_type), ['process_exec', 'process_exit']);
  assert.ok(docs.every((d) => (d.process_exec ?? d.process_exit)!.process.binary === '/usr/bin/whoami'));
});

test('procflow events says where it looked when no agent answers', async () => {
  const child = spawn(process.execPath, [CLI, 'events', '--agent-url', 'http://127.0.0.1:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 1);
  assert.match(err, /cannot reach the agent at http:\/\/127\.0\.0\.1:1/);
  assert.match(err, /hint: is `procflow agent` running here/);
});

test('procflow events stops on Ctrl-C even while no event arrives', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-events-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const running = await startAgent(
    agentDefaults({ output: 'ndjson', process_events: false, flush_interval: 3_600_000, procfs_scan: false, spool_dir: dir, listen: '127.0.0.1:0' }),
    { collector: new SyntheticCollector(), log: pino({ level: 'silent' }) },
  );
  t.after(() => running.shutdown());
  const child = spawn(process.execPath, [CLI, 'events', '--agent-url', running.server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  while (running.agent.hub.subscribers === 0) await new Promise((r) => setTimeout(r, 50)); // connected
  child.kill('SIGINT');
  // The agent stays up and quiet: only the CLI itself can end the stream.
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
  assert.equal(code, 0);
});

test('procflow events pointed at something that is not an agent says so', async (t) => {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const child = spawn(process.execPath, [CLI, 'events', '--agent-url', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 1);
  assert.match(err, /not a procflow agent/);
  assert.match(err, /hint: .*--agent-url/);
});

test('procflow events with an empty --agent-url says which setting to fill in', async () => {
  const child = spawn(process.execPath, [CLI, 'events', '--agent-url', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 1);
  assert.match(err, /--agent-url/);
});

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
  const compact = await linesFrom(['--agent-url', running.server.url, '-o', 'compact'], 2, emit);
  assert.deepEqual(compact, [
    '🚀 process ctl-node /usr/bin/sh -c echo one\\necho two\\r \\x1b]0;owned\\x07\\ttab',
    '💥 exit    ctl-node /usr/bin/sh -c echo one\\necho two\\r \\x1b]0;owned\\x07\\ttab 0',
  ]);
  const json = await linesFrom(['--agent-url', running.server.url, '-o', 'json'], 2, emit);
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
