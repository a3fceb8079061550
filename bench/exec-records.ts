// Real ring-buffer records of the exec workload, for bench:agent-exec: the addon's raw batches
// (exactly the buffers native/index.ts hands to decodeEvents) captured while bench/loadgen.c
// forks and execs /bin/true, or read back from a file written by an earlier capture.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadAddon } from '../native/binding.js';
import { checkKernelSupport } from '../native/support.js';
import { pad8, LAYOUT, PF_ARGS_MAX } from '../native/layout.js';
import { KERNEL_DEFAULTS } from '../native/settings.js';
import { BenchError, EXEC_PATH, runGenerators, workloads } from './saturate.js';

/** Batches as the poller delivered them. */
export type RecordedBatches = Buffer[];

/**
 * Starts a collector of its own (every hook at its defaults), runs the exec workload for
 * `seconds` on every core, and keeps copies of the batches it delivered.
 */
export async function captureExecRecords(seconds: number): Promise<RecordedBatches> {
  const support = checkKernelSupport();
  if (!support.ok) throw new BenchError(`capturing exec records needs ${support.missing.join(', ')}`, support.hint);
  const loaded = loadAddon();
  if ('error' in loaded) throw new BenchError(loaded.error, 'run npm run build:kernel');
  // The options openKernelCollector gives the addon by default (native/index.ts).
  const raw = new loaded.addon.Collector({
    flowMapEntries: KERNEL_DEFAULTS.flow_map_entries, maxArgsBytes: PF_ARGS_MAX, ringBufferBytes: KERNEL_DEFAULTS.ring_buffer_size,
    hookMode: KERNEL_DEFAULTS.hook_mode, ignorePid: process.pid, udpPeers: true, namespaces: false, dns: true, dnsPort: 53,
  });
  const batches: RecordedBatches = [];
  try {
    raw.start((buf) => batches.push(Buffer.from(buf)));
    const exec = workloads(seconds).find((w) => w.key === 'exec')!;
    await runGenerators(exec);
    // The poller hands over what is left within its poll timeout.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    raw.close();
  }
  return batches;
}

/** Records per kind in the batches (header kind field), to say what was replayed. */
export function countRecords(batches: RecordedBatches): Record<number, number> {
  const H = LAYOUT.pf_event_header;
  const counts: Record<number, number> = {};
  for (const buf of batches) {
    for (let off = 0; off + H.size <= buf.length;) {
      const kind = buf.readUInt32LE(off + H.offsets.kind);
      const size = buf.readUInt32LE(off + H.offsets.size);
      if (size < H.size) break;
      counts[kind] = (counts[kind] ?? 0) + 1;
      off += pad8(size);
    }
  }
  return counts;
}

/** One file: each batch as a 4-byte little-endian length and its bytes. */
export function saveRecords(path: string, batches: RecordedBatches): void {
  const parts: Buffer[] = [];
  for (const b of batches) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    parts.push(len, b);
  }
  writeFileSync(path, Buffer.concat(parts));
}

export function loadRecords(path: string): RecordedBatches {
  const all = readFileSync(path);
  const out: RecordedBatches = [];
  for (let off = 0; off + 4 <= all.length;) {
    const len = all.readUInt32LE(off);
    out.push(all.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}

export { EXEC_PATH };
