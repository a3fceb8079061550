// Opening the real kernel collection (native/index.ts, built by the kernel side). Loaded
// dynamically so the agent still runs with a synthetic source (tests, benchmarks, --output of a
// replay) where the addon is not built, and so a missing addon becomes a clear error, not a
// crash at import.
import { ProcflowError } from '../common/errors.js';
import type { KernelCollector, KernelCollectorOptions } from '../native/types.js';

interface NativeModule {
  openKernelCollector(opts: KernelCollectorOptions): KernelCollector;
  checkKernelSupport(): unknown;
}

async function loadNative(): Promise<NativeModule> {
  const url = new URL('../native/index.js', import.meta.url).href;
  try {
    return (await import(url)) as NativeModule;
  } catch (err) {
    throw new ProcflowError(
      'KERNEL_UNAVAILABLE',
      `agent: the kernel collection could not be loaded (${(err as Error).message})`,
      'build it with `npm run build` (needs clang, libelf and zlib headers), or use the agent on a machine where it is built',
      { cause: err },
    );
  }
}

/** What checkKernelSupport() reported missing, as sentences; empty when everything is there. */
function missingFrom(report: unknown): string[] {
  if (!report || typeof report !== 'object') return [];
  const r = report as Record<string, unknown>;
  if (r.ok === true || r.supported === true) return [];
  for (const key of ['missing', 'problems', 'reasons', 'errors']) {
    const v = r[key];
    if (Array.isArray(v) && v.length) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  }
  if (r.ok === false || r.supported === false) return [typeof r.reason === 'string' ? r.reason : JSON.stringify(report)];
  return [];
}

export async function openKernel(opts: KernelCollectorOptions): Promise<KernelCollector> {
  const native = await loadNative();
  // checkKernelSupport throws its own typed error or returns a report; both say what is missing.
  const missing = missingFrom(await native.checkKernelSupport());
  if (missing.length) {
    throw new ProcflowError(
      'KERNEL_UNSUPPORTED',
      `agent: this machine cannot run the kernel collection: ${missing.join('; ')}`,
      'run the agent as root (or with CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE) on a kernel with BTF (/sys/kernel/btf/vmlinux)',
    );
  }
  return native.openKernelCollector(opts);
}
