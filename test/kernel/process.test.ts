// Process events on the real kernel: exec with path, args, cwd and ids; short-lived processes;
// a burst of exec/exit with exit codes and signals; argument truncation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { openHarness, requireKernel, runChild, totals } from '../support/kernel.js';
import type { ExitEvent, ForkEvent } from '../../native/index.js';

test('a short-lived process (sh -c "exec curl ...") keeps its full path and args', async (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t);
  const server = createServer((_req, res) => res.end('ok\n'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/short?lived=1`;
  const child = await runChild('/bin/sh', ['-c', `exec /usr/bin/curl -s -o /dev/null ${url}`], { cwd: '/tmp' });
  assert.equal(child.code, 0, child.stderr);
  await h.waitFor('exec of curl and its exit', () =>
    h.execOf(child.pid).some((e) => e.filename === '/usr/bin/curl') &&
    h.events.some((e) => e.kind === 'exit' && e.pid === child.pid));
  const execs = h.execOf(child.pid);
  assert.deepEqual(execs.map((e) => e.filename), ['/bin/sh', '/usr/bin/curl']);
  const curl = execs[1]!;
  assert.deepEqual(curl.args, ['/usr/bin/curl', '-s', '-o', '/dev/null', url]);
  assert.equal(curl.argsTruncated, false);
  assert.equal(curl.cwd, '/tmp');
  assert.equal(curl.uid, process.getuid?.());
  assert.equal(curl.ppid, process.pid);
  assert.equal(curl.comm, 'curl');
  assert.equal(curl.errorFlags, 0);
  assert.ok(curl.startNs > 0n && curl.parentStartNs > 0n);
  assert.ok(curl.cgroupId > 0n);
  // Its one HTTP request is attributed to it.
  await h.waitFor('curl flow', () => totals(h.flows, (f) => f.pid === child.pid && f.remotePort === port).bytesOut > 0);
  const f = h.flows.find((x) => x.pid === child.pid && x.remotePort === port)!;
  assert.equal(f.comm, 'curl');
  assert.equal(f.pidStartNs, curl.startNs);
});

for (const hookMode of ['auto', 'tracepoint', 'raw_tp'] as const) {
test(`a burst of processes (hookMode ${hookMode}): every exec and exit seen, exit codes and signals right`, async (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t, { hookMode });
  if (hookMode === 'raw_tp') assert.equal(h.collector.hooks.find((r) => r.hook === 'fork')?.via, 'raw_tp');
  const expected = new Map<number, { code: number; signal: number }>();
  const runs: Promise<unknown>[] = [];
  for (let i = 0; i < 60; i++) {
    const code = i % 7;
    runs.push(runChild('/bin/sh', ['-c', `exit ${code}`]).then((r) => expected.set(r.pid, { code, signal: 0 })));
  }
  // Killed by signals: SIGKILL and SIGTERM.
  for (const sig of ['SIGKILL', 'SIGTERM'] as const) {
    const c = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    await once(c, 'spawn');
    const done = once(c, 'exit');
    await new Promise((r) => setTimeout(r, 50));
    c.kill(sig);
    await done;
    expected.set(c.pid!, { code: 0, signal: sig === 'SIGKILL' ? 9 : 15 });
  }
  await Promise.all(runs);
  assert.equal(expected.size, 62);
  const missing = () =>
    [...expected.keys()].filter((pid) => !(h.execOf(pid).length > 0 && h.events.some((e) => e.kind === 'exit' && e.pid === pid)));
  await h.waitFor('every exec and exit', () => missing().length === 0).catch((err: Error) => {
    const lines = missing().map((pid) => `${pid}: ${JSON.stringify(h.events.filter((e) => e.pid === pid).map((e) => e.kind))}`);
    throw new Error(`${err.message}; missing:\n${lines.join('\n')}`);
  });
  for (const [pid, want] of expected) {
    const exits = h.events.filter((e): e is ExitEvent => e.kind === 'exit' && e.pid === pid);
    assert.equal(exits.length, 1, `one exit for ${pid}`);
    assert.equal(exits[0]!.exitCode, want.code, `exit code of ${pid}`);
    assert.equal(exits[0]!.signal, want.signal, `signal of ${pid}`);
    assert.equal(exits[0]!.startNs, h.execOf(pid)[0]!.startNs, 'exit and exec agree on the start time');
  }
  // The forks that made them were seen too.
  const forks = new Set(h.events.filter((e): e is ForkEvent => e.kind === 'fork').map((e) => e.pid));
  for (const pid of expected.keys()) assert.ok(forks.has(pid), `fork of ${pid}`);
  const c = h.collector.counters();
  assert.equal(c.eventsLost, 0);
  assert.equal(c.eventsDroppedUser, 0);
});
}

test('arguments longer than maxArgsBytes are cut and flagged', async (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t, { maxArgsBytes: 64 });
  const long = 'a'.repeat(200);
  const child = await runChild('/bin/echo', ['first', long]);
  await h.waitFor('exec of echo', () => h.execOf(child.pid).length > 0);
  const e = h.execOf(child.pid)[0]!;
  assert.equal(e.argsTruncated, true);
  assert.equal(e.args[0], '/bin/echo');
  assert.equal(e.args[1], 'first');
  assert.ok(e.args.join('\0').length <= 64);
});

test('a relative executable is anchored at the cwd; a deep cwd is read in full', async (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t);
  const child = await runChild('./true', [], { cwd: '/bin' });
  assert.equal(child.code, 0);
  await h.waitFor('exec of ./true', () => h.execOf(child.pid).length > 0);
  const e = h.execOf(child.pid)[0]!;
  assert.equal(e.cwd, realpathSync('/bin'));
  assert.ok(e.filename === '/bin/true' || e.filename === '/usr/bin/true', e.filename);
});
