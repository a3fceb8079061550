// What the kernel collector attaches on this kernel: opens it (auto hook mode), records the hook
// report and counters, closes it. Run inside each matrix guest and on the host:
//   node dist/test/matrix/guest-report.js --out <file.json>
// Exits 0 even when the collector cannot open; the reason is in the report's `error`.
import { writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { checkKernelSupport, openKernelCollector, type HookReport, type KernelCounters } from '../../native/index.js';
import { describeError } from '../../common/errors.js';

export interface KernelReport {
  /** uname -r */
  kernel: string;
  hooks: HookReport[];
  counters: KernelCounters | null;
  /** Why the collector could not open, when it could not. */
  error?: string;
  /** The addon's probe of the kernel, when it loaded. */
  probe?: unknown;
  libbpf?: string;
}

function report(): KernelReport {
  const support = checkKernelSupport();
  const base = { kernel: release(), probe: support.probe, libbpf: support.libbpfVersion };
  try {
    const collector = openKernelCollector();
    try {
      return { ...base, hooks: collector.hooks, counters: collector.counters() };
    } finally {
      collector.close();
    }
  } catch (err) {
    return { ...base, hooks: [], counters: null, error: describeError(err) };
  }
}

const at = process.argv.indexOf('--out');
const out = at > 0 ? process.argv[at + 1] : undefined;
const json = `${JSON.stringify(report(), null, 2)}\n`;
if (out) writeFileSync(out, json);
else process.stdout.write(json);
