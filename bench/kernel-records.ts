// Real kernel records of a saturated workload, for bench:agent-exec and bench:agent-churn: the
// addon's raw buffers (exactly what native/index.ts hands to decodeEvents and decodeFlows)
// captured while bench/loadgen.c runs on every core, or read back from a file an earlier capture
// wrote. The exec workload (fork, exec and exit of /bin/true) keeps the ring buffer's batches;
// the churn workload (TCP connect/request/close) keeps them and, once a second as the agent
// drains with `--flush-interval 1s`, the flow map's drained entries.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadAddon } from '../native/binding.js';
import { checkKernelSupport } from '../native/support.js';
import { pad8, LAYOUT, PF_ARGS_MAX } from '../native/layout.js';
import { KERNEL_DEFAULTS } from '../native/settings.js';
import { BenchError, runGenerators, workloads, type Workload } from './saturate.js';

/** One buffer as the addon delivered it: a ring-buffer batch, or one drain of the flow map. */
export interface RecordedBatch {
  kind: 'events' | 'flows';
  buf: Buffer;
}
export type RecordedBatches = RecordedBatch[];

/** The workloads whose records can be captured and replayed. */
export type ReplayWorkload = Extract<Workload['key'], 'exec' | 'churn'>;
export const REPLAY_WORKLOADS: readonly ReplayWorkload[] = ['exec', 'churn'];

/** How often the churn capture drains the flow map (the agent's flush interval in bench:agent). */
const DRAIN_MS = 1000;

/**
 * Starts a collector of its own (every hook at its defaults), runs `workload` for `seconds` on
 * every core, and keeps copies of what it delivered.
 */
export async function captureRecords(workload: ReplayWorkload, seconds: number): Promise<RecordedBatches> {
  const support = checkKernelSupport();
  if (!support.ok) throw new BenchError(`capturing kernel records needs ${support.missing.join(', ')}`, support.hint);
  const loaded = loadAddon();
  if ('error' in loaded) throw new BenchError(loaded.error, 'run npm run build:kernel');
  // The options openKernelCollector gives the addon by default (native/index.ts).
  const raw = new loaded.addon.Collector({
    flowMapEntries: KERNEL_DEFAULTS.flow_map_entries, socketMapEntries: KERNEL_DEFAULTS.socket_map_entries, maxArgsBytes: PF_ARGS_MAX, ringBufferBytes: KERNEL_DEFAULTS.ring_buffer_size,
    hookMode: KERNEL_DEFAULTS.hook_mode, ignorePid: process.pid, udpPeers: true, namespaces: false, dns: true, dnsPort: 53,
  });
  const batches: RecordedBatches = [];
  const drain = () => batches.push({ kind: 'flows', buf: Buffer.from(raw.drainFlows()) });
  let timer: NodeJS.Timeout | undefined;
  try {
    raw.start((buf) => batches.push({ kind: 'events', buf: Buffer.from(buf) }));
    if (workload === 'churn') {
      drain();
      batches.length = 0;
      timer = setInterval(drain, DRAIN_MS);
    }
    await runGenerators(workloads(seconds).find((w) => w.key === workload)!);
    // The poller hands over what is left within its poll timeout.
    await new Promise((r) => setTimeout(r, 300));
    if (timer) {
      clearInterval(timer);
      drain();
    }
  } finally {
    raw.close();
  }
  return batches;
}

/** Records per kind in the ring-buffer batches (header kind field), to say what was replayed. */
export function countRecords(batches: RecordedBatches): Record<number, number> {
  const H = LAYOUT.pf_event_header;
  const counts: Record<number, number> = {};
  for (const { kind, buf } of batches) {
    if (kind !== 'events') continue;
    for (let off = 0; off + H.size <= buf.length;) {
      const k = buf.readUInt32LE(off + H.offsets.kind);
      const size = buf.readUInt32LE(off + H.offsets.size);
      if (size < H.size) break;
      counts[k] = (counts[k] ?? 0) + 1;
      off += pad8(size);
    }
  }
  return counts;
}

const TAGS = { events: 0x45, flows: 0x46 } as const;

/** One file: each batch as a tag byte (E or F), a 4-byte little-endian length and its bytes. */
export function saveRecords(path: string, batches: RecordedBatches): void {
  const parts: Buffer[] = [];
  for (const b of batches) {
    const head = Buffer.alloc(5);
    head[0] = TAGS[b.kind];
    head.writeUInt32LE(b.buf.length, 1);
    parts.push(head, b.buf);
  }
  writeFileSync(path, Buffer.concat(parts));
}

export function loadRecords(path: string): RecordedBatches {
  const all = readFileSync(path);
  const out: RecordedBatches = [];
  for (let off = 0; off + 5 <= all.length;) {
    const kind = all[off] === TAGS.flows ? 'flows' : all[off] === TAGS.events ? 'events' : undefined;
    if (!kind) throw new BenchError(`${path} is not a kernel record file of this version (byte ${off})`, 'capture again: leave BENCH_RECORDS unset');
    const len = all.readUInt32LE(off + 1);
    out.push({ kind, buf: all.subarray(off + 5, off + 5 + len) });
    off += 5 + len;
  }
  return out;
}
