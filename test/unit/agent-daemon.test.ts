// The whole agent on a synthetic source: events in, flow logs and process events out through
// the spool and shipper to a real local HTTP server, the live event stream, /metrics, /healthz,
// and the SIGTERM path (the current interval is flushed before exit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { unpackBatch } from '../support/batches.js';
import { pino } from 'pino';
import { FLOW_CONTRACT, PROCESS_CONTRACT, type FlowLog, type ProcessEventDoc } from '../../schema/index.js';
import { agentDefaults } from '../../agent/config.js';
import { startAgent } from '../../agent/run.js';
import { SyntheticCollector, execEvent, exitEvent, flowRecord } from '../../agent/synthetic.js';
import { compactLine } from '../../agent/process/compact.js';

const S = 1_000_000_000n;

test('agent: synthetic events -> indexer documents, live stream, metrics, flush on shutdown', async (t) => {
  const received: { path: string; docs: object[] }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const docs = unpackBatch(Buffer.concat(chunks)).trim().split('\n').map((l) => JSON.parse(l) as object);
      received.push({ path: req.url ?? '', docs });
      res.writeHead(200).end(JSON.stringify({ accepted: docs.length }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const spoolDir = mkdtempSync(join(tmpdir(), 'procflow-agent-'));
  t.after(() => rmSync(spoolDir, { recursive: true, force: true }));

  const collector = new SyntheticCollector();
  const running = await startAgent(
    agentDefaults({
      indexer_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't', node_name: 'test-node',
      flush_interval: 3_600_000, attribution_delay: 0, procfs_scan: false, spool_dir: spoolDir, listen: '127.0.0.1:0', process_events_rate: 0,
    }),
    { collector, log: pino({ level: 'silent' }) },
  );
  let stopped = false;
  t.after(async () => { if (!stopped) await running.shutdown(); });

  // The live stream, as `procflow events` reads it.
  const stream = await fetch(new URL('/v1/events', running.server.url));
  assert.equal(stream.status, 200);
  const reader = stream.body!.getReader();

  const start = 100n * S;
  collector.emit([execEvent(4242, start, '/usr/bin/whoami', ['--version', '--token', 'abc'], { timeNs: start })]);
  collector.addFlows([flowRecord({ pid: 4242, pidStartNs: start, bytesOut: 1234, bytesIn: 56, packetsOut: 3, packetsIn: 1, tcpStarted: 1, tcpCompleted: 1 })]);
  collector.emit([exitEvent(4242, start, 0, 0, { timeNs: start + S })]);

  let text = '';
  while (text.split('\n').length < 3) text += new TextDecoder().decode((await reader.read()).value);
  const live = text.trim().split('\n').map((l) => JSON.parse(l) as ProcessEventDoc);
  assert.deepEqual(live.map(compactLine), [
    '🚀 process test-node /usr/bin/whoami --version --token *****',
    '💥 exit    test-node /usr/bin/whoami --version --token ***** 0',
  ]);
  await reader.cancel();

  const health = await fetch(new URL('/healthz', running.server.url));
  assert.equal(health.status, 200);

  // SIGTERM path: the hour-long interval is flushed now, and the spool drains before exit.
  await running.shutdown();
  stopped = true;
  const flows = received.filter((r) => r.path === '/v1/flows').flatMap((r) => r.docs) as FlowLog[];
  const procs = received.filter((r) => r.path === '/v1/process-events').flatMap((r) => r.docs) as ProcessEventDoc[];
  assert.equal(flows.length, 1);
  for (const d of flows) assert.equal(FLOW_CONTRACT.validate(d), null);
  for (const d of procs) assert.equal(PROCESS_CONTRACT.validate(d), null);
  assert.equal(flows[0]!.process_name, '/usr/bin/whoami');
  assert.deepEqual(flows[0]!.process_args, ['--version --token *****']);
  assert.equal(flows[0]!.bytes_out, 1234);
  assert.equal(flows[0]!.host, 'test-node');
  assert.deepEqual(procs.map((p) => p.event_type), ['process_exec', 'process_exit']);
  assert.equal(procs[0]!.process_exec!.process.exec_id, flows[0]!.process_exec_id);
  assert.equal(procs[1]!.process_exit!.status, 0);
  assert.equal(running.spool!.size, 0);
  assert.ok(collector.closed);

  const metrics = await running.agent.metrics.registry.metrics();
  assert.match(metrics, /^procflow_agent_flows_emitted_total 1$/m);
  assert.match(metrics, /^procflow_agent_process_events_total\{kind="exec"\} 1$/m);
  assert.match(metrics, /^procflow_agent_docs_shipped_total\{kind="flows"\} 1$/m);
  assert.match(metrics, /^procflow_agent_spool_bytes 0$/m);
  assert.match(metrics, /^procflow_agent_process_cache_size 1$/m);
});

test('agent: refuses a config without an indexer URL or token, or with an out-of-range interval', async () => {
  await assert.rejects(startAgent(agentDefaults({ indexer_url: '' }), { collector: new SyntheticCollector(), log: pino({ level: 'silent' }) }), /--indexer-url is required/);
  await assert.rejects(startAgent(agentDefaults({ indexer_url: 'http://127.0.0.1:1' }), { collector: new SyntheticCollector(), log: pino({ level: 'silent' }) }), /--token is required/);
  await assert.rejects(startAgent(agentDefaults({ output: 'ndjson', flush_interval: 500 }), { collector: new SyntheticCollector(), log: pino({ level: 'silent' }) }), /between 1s and 1h/);
});

test('agent: a start that fails after the HTTP port opened closes it again, so the process can exit', async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { freePort } = await import('../../common/net.js');
  const { createServer } = await import('node:net');
  const port = await freePort();
  // procfs_scan on, with --proc-root pointing at an empty directory: the scan fails at start.
  const emptyProc = mkdtempSync(join(tmpdir(), 'procflow-empty-proc-'));
  const c = { ...agentDefaults({ output: 'ndjson', listen: `127.0.0.1:${port}` }), procfs_scan: true };
  const { assemble } = await import('../../agent/run.js');
  await assert.rejects(assemble(c, new SyntheticCollector(), pino({ level: 'silent' }), { procRoot: emptyProc }), /PROCFS|proc/i);
  // The port is free again.
  await new Promise<void>((resolve, reject) => {
    const probe = createServer().once('error', reject).listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
});

test('agent --output ndjson: the same documents, one per line, on a stream', async () => {
  const { PassThrough } = await import('node:stream');
  const { Agent } = await import('../../agent/agent.js');
  const { StreamSink } = await import('../../agent/delivery/sink.js');
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const collector = new SyntheticCollector();
  const agent = new Agent({ collector, sink: new StreamSink(out), log: pino({ level: 'silent' }) }, { ...agentDefaults(), node_name: 'nd', flush_interval: 3_600_000, attribution_delay: 0, procfs_scan: false, procfsFallback: false });
  agent.start();
  collector.emit([execEvent(9, 3n * S, '/usr/bin/dig', ['example.com'])]);
  collector.addFlows([flowRecord({ pid: 9, pidStartNs: 3n * S, proto: 17, remotePort: 53, bytesOut: 40, bytesIn: 120 })]);
  await agent.stop();
  const docs = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const flow = docs.find((d) => 'bytes_out' in d) as FlowLog;
  assert.equal(FLOW_CONTRACT.validate(flow), null);
  assert.equal(flow.process_name, '/usr/bin/dig');
  assert.equal(flow.bytes_in, 120);
  const exec = docs.find((d) => d.event_type === 'process_exec') as ProcessEventDoc;
  assert.equal(PROCESS_CONTRACT.validate(exec), null);
});

test('agent: a catastrophic /v1/events filter (a+)+$ cannot freeze the agent; RE2-only syntax is a 400 naming it', async (t) => {
  const collector = new SyntheticCollector();
  const running = await startAgent(
    agentDefaults({ output: 'ndjson', node_name: 'test-node', flush_interval: 3_600_000, attribution_delay: 0, procfs_scan: false, listen: '127.0.0.1:0', process_events_rate: 0 }),
    { collector, log: pino({ level: 'silent' }) },
  );
  t.after(() => running.shutdown());
  const bad = await fetch(new URL('/v1/events?binary=(?<=x)y', running.server.url));
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /binary filter: invalid regular expression.*RE2/s);

  const stream = await fetch(new URL(`/v1/events?binary=${encodeURIComponent('^(a+)+$')}`, running.server.url));
  assert.equal(stream.status, 200);
  const reader = stream.body!.getReader();
  // A backtracking engine needs about 2^40 steps for this path; RE2 answers at once, so the
  // next event (which matches) arrives and the port still answers.
  const start = 100n * S;
  collector.emit([execEvent(4243, start, `${'a'.repeat(40)}!`, [], { timeNs: start })]);
  collector.emit([execEvent(4244, start + S, `${'a'.repeat(12)}`, [], { timeNs: start + S })]);
  const text = new TextDecoder().decode((await reader.read()).value);
  assert.match(text, /"binary":"a{12}"/);
  await reader.cancel();
  assert.equal((await fetch(new URL('/healthz', running.server.url))).status, 200);
});
