// One side of bench:agent-exec and bench:agent-churn, in a process of its own: recorded kernel
// records through a procflow build's real user-space path, as `procflow agent --output ndjson
// --process-events-rate 0` runs it: decodeEvents and decodeFlows (as native/index.ts calls them),
// the agent's onEvents (cache, cwd, cgroup, redaction, process_exec / process_exit documents), its
// flow aggregation and each interval's flush through the NDJSON stream sink into /dev/null
// (`--output ndjson`), or through the default output's spool sink (`--output spool`: validated,
// compressed and spooled, the batches deleted after each flush instead of shipped). The build is
// imported from its dist/ folder, so the baseline side runs an older checkout's code unchanged.
//
// Exec records are flushed about once a live interval's worth of events; churn records once per
// recorded drain of the flow map (one a second, as `--flush-interval 1s`), each drain handed to
// the agent as its collector's drainFlows() would hand it over.
//
// Usage (bench/agent-replay.ts starts it): node replay.js --root DIR --records FILE --passes N --output ndjson|spool
// Documents go to stdout (the parent points it at /dev/null, as the saturated phase runs the
// agent); one JSON line of results goes to fd 3: exec and flow records per pass, CPU seconds
// (user, system) of the measured passes, documents exported, peak RSS.
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { FLOW_RECORD_SIZE, LAYOUT, PF_EVENT_EXEC, PF_EVENT_EXIT, PF_EVENT_FORK, pad8 } from '../native/layout.js';
import { loadRecords, type RecordedBatches } from './kernel-records.js';

const H = LAYOUT.pf_event_header.offsets;
const V = LAYOUT.pf_flow_value.offsets;
const FLOW_VALUE_AT = pad8(LAYOUT.pf_flow_key.size);
const PARENT_START = { [PF_EVENT_EXEC]: LAYOUT.pf_exec_event.offsets.parent_start_ns, [PF_EVENT_FORK]: LAYOUT.pf_fork_event.offsets.parent_start_ns } as Record<number, number>;
/** Each pass moves every time by this much, so its processes are new ones to the cache (100 s). */
const PASS_SHIFT_NS = 100_000_000_000n;

/** Adds `by` to the u64 at `at` unless it is 0 (not set). */
function shiftU64(buf: Buffer, at: number, by: bigint): void {
  const v = buf.readBigUInt64LE(at);
  if (v) buf.writeBigUInt64LE(v + by, at);
}

/**
 * The batches of pass `pass`: the same records with every start, parent start, event time and
 * flow time moved by `pass` shifts, so the cache sees new processes (same pids, later starts), as
 * a node running the workload for longer would. Done before the pass, outside the measured time.
 */
export function shifted(batches: RecordedBatches, pass: number): RecordedBatches {
  const by = PASS_SHIFT_NS * BigInt(pass);
  return batches.map(({ kind, buf: orig }) => {
    const buf = Buffer.from(orig);
    if (kind === 'flows') {
      for (let off = FLOW_VALUE_AT; off + FLOW_RECORD_SIZE - FLOW_VALUE_AT <= buf.length; off += FLOW_RECORD_SIZE) {
        for (const at of [V.pid_start_ns, V.first_seen_ns, V.last_seen_ns]) shiftU64(buf, off + at, by);
      }
      return { kind, buf };
    }
    for (let off = 0; off + LAYOUT.pf_event_header.size <= buf.length;) {
      const k = buf.readUInt32LE(off + H.kind);
      const size = buf.readUInt32LE(off + H.size);
      if (size < LAYOUT.pf_event_header.size) break;
      if (k === PF_EVENT_EXEC || k === PF_EVENT_FORK || k === PF_EVENT_EXIT) {
        for (const at of [H.start_ns, H.time_ns, PARENT_START[k]]) if (at !== undefined) shiftU64(buf, off + at, by);
      }
      off += pad8(size);
    }
    return { kind, buf };
  });
}

function countExecs(batches: RecordedBatches): number {
  let n = 0;
  for (const { kind, buf } of batches) {
    if (kind !== 'events') continue;
    for (let off = 0; off + LAYOUT.pf_event_header.size <= buf.length;) {
      const size = buf.readUInt32LE(off + H.size);
      if (size < LAYOUT.pf_event_header.size) break;
      if (buf.readUInt32LE(off + H.kind) === PF_EVENT_EXEC) n++;
      off += pad8(size);
    }
  }
  return n;
}

function countFlowRecords(batches: RecordedBatches): number {
  return batches.reduce((n, b) => n + (b.kind === 'flows' ? Math.floor(b.buf.length / FLOW_RECORD_SIZE) : 0), 0);
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the build under test is loaded by path */
async function load(root: string, rel: string): Promise<any> {
  return import(pathToFileURL(join(root, 'dist', rel)).href);
}

async function main(): Promise<void> {
  const arg = (name: string) => process.argv[process.argv.indexOf(`--${name}`) + 1]!;
  const root = arg('root');
  const batches = loadRecords(arg('records'));
  const passes = Number(arg('passes'));
  const [{ Agent }, { agentDefaults }, { StreamSink, SpoolSink }, { Spool }, { AgentMetrics }, { decodeEvents, decodeFlows, eachFlowRecord }, { limitYoungGeneration }] = await Promise.all([
    load(root, 'agent/agent.js'), load(root, 'agent/config.js'), load(root, 'agent/delivery/sink.js'), load(root, 'agent/delivery/spool.js'), load(root, 'agent/metrics.js'),
    load(root, 'native/decode.js'), load(root, 'agent/heap.js'),
  ]);
  // As `procflow agent` runs: the same young-generation limit.
  limitYoungGeneration();
  const c = agentDefaults({ node_name: 'bench', output: 'ndjson', flush_interval: 3_600_000, procfs_scan: false, process_events_rate: 0 });
  let deliver: ((events: unknown[]) => void) | undefined;
  /** The flow map's entries the next drainFlows() returns (one recorded drain). */
  let drained: Buffer | undefined;
  const collector = {
    hooks: [{ hook: 'exec', via: 'tp_btf', target: 'replay', reason: 'recorded batches' }],
    start(onEvents: (events: unknown[]) => void) {
      deliver = onEvents;
    },
    drainFlows: () => {
      const buf = drained;
      drained = undefined;
      if (!buf) return [];
      // As native/index.ts hands them over (a build from before eachFlowRecord decoded them all at once).
      return eachFlowRecord ? eachFlowRecord(buf) : decodeFlows(buf);
    },
    counters: () => ({ eventsLost: 0, eventsDroppedUser: 0, flowMapFull: 0, eventsDelivered: 0 }),
    close() {},
  };
  const spoolDir = arg('output') === 'spool' ? mkdtempSync(join(tmpdir(), 'procflow-replay-')) : undefined;
  const spool = spoolDir ? new Spool({ ...c, spool_dir: spoolDir, spool_max_size: 2 * 1024 ** 3 }) : undefined;
  const sink = spool ? new SpoolSink(spool, c) : new StreamSink(process.stdout);
  /** What a shipper would do once the indexer acknowledged: delete the spooled batches. */
  const acknowledge = async () => {
    if (spool) for (let b = spool.claim(); b; b = spool.claim()) await spool.remove(b);
  };
  const agent = new Agent({ collector, sink, log: pino({ level: 'silent' }), metrics: new AgentMetrics() }, { ...c, attribution_delay: 0 });
  agent.start();
  // What native/index.ts does with each batch.
  const replay = (buf: Buffer) => {
    const events = decodeEvents(buf);
    if (events.length) deliver!(events);
  };
  // One pass warms the code up (JIT) and the cgroup and user-name caches; it is not counted.
  const execsPerPass = countExecs(batches);
  const flowRecordsPerPass = countFlowRecords(batches);
  const flushEvery = 2000;
  let cpu = { user: 0, system: 0 };
  for (let pass = 0; pass <= passes; pass++) {
    const input = shifted(batches, pass);
    global.gc?.();
    const c0 = process.cpuUsage();
    let sinceFlush = 0;
    for (const { kind, buf } of input) {
      if (kind === 'flows') {
        drained = buf;
        await agent.flush();
        await acknowledge();
        sinceFlush = 0;
        continue;
      }
      replay(buf);
      sinceFlush += buf.length;
      // About one interval of the live workload between flushes (documents wait in between).
      if (sinceFlush >= flushEvery * 800) {
        await agent.flush();
        await acknowledge();
        sinceFlush = 0;
      }
    }
    await agent.flush();
    await acknowledge();
    const d = process.cpuUsage(c0);
    if (pass > 0) cpu = { user: cpu.user + d.user / 1e6, system: cpu.system + d.system / 1e6 };
  }
  const exported = agent.stats.processEventsExported;
  const flowLogs = agent.aggregator.stats.flowsEmitted;
  await agent.stop();
  if (spoolDir) rmSync(spoolDir, { recursive: true, force: true });
  writeSync(3, `${JSON.stringify({ execs: execsPerPass * passes, flowRecords: flowRecordsPerPass * passes, cpu, exported, flowLogs, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
}

if (process.argv.includes('--root')) await main();
