// UDP start/complete semantics (Calico's): started in the interval a flow is first seen,
// completed when idle for the timeout, when its process exits, when the agent stops, or early
// (counted) when too many UDP flows are remembered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { FLOW_CONTRACT, type FlowLog } from '../../schema/index.js';
import { Agent } from '../../agent/agent.js';
import { FlowAggregator } from '../../agent/flows/aggregator.js';
import { Attributor } from '../../agent/flows/attribution.js';
import { EndpointNamer } from '../../agent/flows/endpoints.js';
import { ProcessCache } from '../../agent/process/process-cache.js';
import { Redactor } from '../../agent/process/redact.js';
import { StreamSink } from '../../agent/delivery/sink.js';
import { SyntheticCollector, execEvent, exitEvent, flowRecord } from '../../agent/synthetic.js';
import { agentDefaults, type AgentConfig } from '../../agent/config.js';

const S = 1_000_000_000n;

/** A cache and an aggregator as the agent builds them, from the settings at their defaults but `c`. */
function parts(c: Partial<AgentConfig>, now = () => 0) {
  const settings = agentDefaults({ node_name: 'n1', udp_flow_timeout: 60_000, ...c });
  const cache = new ProcessCache({ ...settings, redactor: new Redactor(settings), now });
  const at = new Attributor(cache, { ...settings, procfsFallback: false });
  const agg = new FlowAggregator({ ...settings, endpoints: new EndpointNamer('n1'), resolve: (p, s, c) => at.resolve(p, s, c) }, 0);
  return { cache, agg };
}

function setup(udp: Partial<Pick<AgentConfig, 'udp_flow_timeout' | 'udp_max_flows'>> = {}) {
  const { cache, agg } = parts({ exit_retention: 600_000, ...udp });
  cache.onExec(execEvent(700, 7n * S, '/usr/sbin/unbound', []));
  return { cache, agg };
}

const dns = (port: number, bytesOut = 40, pid = 700, start = 7n * S) =>
  flowRecord({ pid, pidStartNs: start, proto: 17, role: 'unknown', localPort: port, remotePort: 53, bytesOut, packetsOut: 1 });

function valid(docs: FlowLog[]): FlowLog[] {
  for (const d of docs) assert.equal(FLOW_CONTRACT.validate(d), null, JSON.stringify(d));
  return docs;
}

const counts = (docs: FlowLog[]) => docs.map((d) => [d.source_port, d.bytes_out, d.num_flows_started, d.num_flows_completed]);

test('a UDP flow starts in the interval it is first seen and completes once idle for the timeout', () => {
  const { agg } = setup();
  agg.add(dns(50001));
  assert.deepEqual(counts(valid(agg.flush(15_000))), [[50001, 40, 1, 0]], 'first interval: started');
  agg.add(dns(50001));
  assert.deepEqual(counts(agg.flush(30_000)), [[50001, 40, 0, 0]], 'seen again: continuing, not started again');
  assert.deepEqual(agg.flush(45_000), [], 'idle 15 s of 60: nothing to report');
  assert.deepEqual(agg.flush(75_000), [], 'idle 45 s of 60: nothing to report');
  const [done, ...rest] = valid(agg.flush(90_000));
  assert.equal(rest.length, 0);
  assert.deepEqual(counts([done!]), [[50001, 0, 0, 1]], 'idle 60 s: completed, in a log of its own with no traffic');
  assert.equal(done!.process_name, '/usr/sbin/unbound');
  assert.equal(done!.start_time, new Date(75_000).toISOString());
  assert.equal(agg.udp!.size, 0);
  agg.add(dns(50001));
  assert.deepEqual(counts(agg.flush(105_000)), [[50001, 40, 1, 0]], 'after completing, the same 5-tuple is a new flow');
  assert.deepEqual(agg.udp!.stats, { started: 2, completed: { idle: 1, process_exit: 0, evicted: 0, shutdown: 0 } });
});

test('a process that exits completes its UDP flows in the interval its last traffic is drained', () => {
  const { cache, agg } = setup();
  // dig lives for milliseconds: exec, one query, exit, all before the flush drains the query.
  cache.onExec(execEvent(701, 8n * S, '/usr/bin/dig', ['example.com']));
  agg.processExited(701, 8n * S);
  agg.add(dns(50002, 30, 701, 8n * S));
  agg.add(dns(50003)); // unbound goes on
  const docs = valid(agg.flush(15_000));
  const dig = docs.find((d) => d.process_name === '/usr/bin/dig')!;
  assert.deepEqual(counts([dig]), [[50002, 30, 1, 1]], 'started and completed in one interval');
  assert.deepEqual(counts(docs.filter((d) => d !== dig)), [[50003, 40, 1, 0]]);
  // An exit of a process with a remembered flow completes it at the next flush, with no traffic.
  agg.processExited(700, 7n * S);
  assert.deepEqual(counts(agg.flush(30_000)), [[50003, 0, 0, 1]]);
  // Another start of the same pid is another process: its flows are untouched by the old exit.
  agg.add(dns(50004, 10, 700, 9n * S));
  agg.processExited(700, 7n * S);
  assert.deepEqual(counts(agg.flush(45_000)), [[50004, 10, 1, 0]]);
  assert.equal(agg.udp!.stats.completed.process_exit, 2);
});

test('too many remembered UDP flows: the least recently seen completes early and is counted', () => {
  const { agg } = setup({ udp_flow_timeout: 60_000, udp_max_flows: 2 });
  agg.add(dns(50010));
  agg.add(dns(50011));
  agg.flush(15_000);
  agg.add(dns(50011)); // 50010 is now the least recently seen
  agg.add(dns(50012));
  const docs = agg.flush(30_000);
  assert.deepEqual(counts(docs).sort(), [[50010, 0, 0, 1], [50011, 40, 0, 0], [50012, 40, 1, 0]]);
  assert.equal(agg.udp!.stats.completed.evicted, 1);
  assert.equal(agg.udp!.size, 2);
});

test('the final flush completes every remembered UDP flow; TCP keeps the kernel counts; timeout 0 turns it off', () => {
  const { agg } = setup();
  agg.add(dns(50020));
  agg.add(flowRecord({ pid: 700, pidStartNs: 7n * S, bytesOut: 5, tcpStarted: 1 }));
  const first = agg.flush(15_000);
  assert.deepEqual(first.map((d) => [d.proto, d.num_flows_started, d.num_flows_completed]).sort(), [['tcp', 1, 0], ['udp', 1, 0]]);
  agg.add(dns(50021));
  const docs = agg.flush(20_000, { final: true });
  assert.deepEqual(counts(docs).sort(), [[50020, 0, 0, 1], [50021, 40, 1, 1]]);
  assert.equal(agg.udp!.size, 0);
  assert.equal(agg.udp!.stats.completed.shutdown, 2);

  const off = setup({ udp_flow_timeout: 0 }).agg;
  off.add(dns(50030));
  assert.deepEqual(counts(off.flush(15_000, { final: true })), [[50030, 40, 0, 0]]);
  assert.equal(off.udp, undefined);
});

test('agent: exit events complete UDP flows, and stopping completes the rest (ndjson output)', async () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const collector = new SyntheticCollector();
  const agent = new Agent(
    { collector, sink: new StreamSink(out), log: pino({ level: 'silent' }) },
    { ...agentDefaults(), node_name: 'u1', flush_interval: 3_600_000, attribution_delay: 0, procfs_scan: false, procfsFallback: false, process_events: false, udp_flow_timeout: 60_000 },
  );
  agent.start();
  collector.emit([execEvent(800, 10n * S, '/usr/bin/dig', []), execEvent(801, 11n * S, '/usr/sbin/ntpd', [])]);
  collector.addFlows([dns(50040, 30, 800, 10n * S), dns(50041, 48, 801, 11n * S)]);
  collector.emit([exitEvent(800, 10n * S)]);
  await agent.flush(Date.now());
  const first = text.trim().split('\n').map((l) => JSON.parse(l) as FlowLog);
  assert.deepEqual(counts(first).sort(), [[50040, 30, 1, 1], [50041, 48, 1, 0]]);
  text = '';
  await agent.stop();
  const last = text.trim().split('\n').map((l) => JSON.parse(l) as FlowLog);
  assert.deepEqual(counts(last), [[50041, 0, 0, 1]], 'stopping completes what is still open');
  const metrics = await agent.metrics.registry.metrics();
  assert.match(metrics, /procflow_agent_udp_flows_completed_total\{reason="process_exit"\} 1/);
  assert.match(metrics, /procflow_agent_udp_flows_completed_total\{reason="shutdown"\} 1/);
  assert.match(metrics, /procflow_agent_udp_flows_evicted_total 0/);
});

test('the idle completion of a UDP flow keeps its binary and args after the process left the cache', () => {
  const now = { t: 0 };
  const { cache, agg } = parts({ exit_retention: 1000, udp_flow_timeout: 60_000 }, () => now.t);
  cache.onExec(execEvent(800, 8n * S, '/usr/bin/python3.11', ['client.py']));
  agg.add(dns(50100, 40, 800, 8n * S));
  const [first] = valid(agg.flush(15_000));
  assert.equal(first!.process_name, '/usr/bin/python3.11');
  // The process exits without the agent seeing it (a lost event), and the cache lets it go.
  cache.onExit(exitEvent(800, 8n * S));
  now.t = 10_000;
  cache.gc();
  assert.equal(cache.get(800, 8n * S), undefined, 'evicted from the cache');
  for (const end of [30_000, 45_000, 60_000]) agg.flush(end);
  const [done] = valid(agg.flush(80_000));
  assert.equal(done!.num_flows_completed, 1);
  assert.equal(done!.bytes_out, 0);
  assert.equal(done!.process_name, '/usr/bin/python3.11');
  assert.deepEqual(done!.process_args, ['client.py']);
  assert.equal(done!.process_source, 'kernel');
  assert.equal(done!.process_exec_id, first!.process_exec_id);
});
