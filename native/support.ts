// checkKernelSupport(): can this process open the kernel collector, and if not, exactly what
// is missing. Cheap (a few file reads and one BTF parse); safe to call without privileges.
import { accessSync, constants, readFileSync } from 'node:fs';
import { loadAddon, type RawProbe } from './binding.js';

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

export interface KernelSupport {
  ok: boolean;
  /** One phrase per missing piece; empty when ok. */
  missing: string[];
  /** What to do about it, one sentence. */
  hint: string;
  privileged: boolean;
  btf: boolean;
  /** Path of the loaded addon, or null. */
  addonPath: string | null;
  /** Why the addon is unusable, when it is. */
  addonError?: string;
  /** The addon's view of the kernel (tracepoints, kprobes), when it loaded. */
  probe?: RawProbe;
  libbpfVersion?: string;
}

/** Effective capabilities of this process, from /proc/self/status. */
function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m?.[1] ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

function hasCap(caps: bigint, bit: number): boolean {
  return (caps & (1n << BigInt(bit))) !== 0n;
}

export function checkKernelSupport(): KernelSupport {
  const missing: string[] = [];
  const hints: string[] = [];
  if (process.platform !== 'linux') {
    return { ok: false, missing: ['Linux'], hint: 'eBPF collection needs Linux', privileged: false, btf: false, addonPath: null };
  }
  const caps = effectiveCaps();
  const privileged =
    process.geteuid?.() === 0 ||
    (hasCap(caps, CAP_BPF) && hasCap(caps, CAP_PERFMON)) ||
    hasCap(caps, CAP_SYS_ADMIN);
  if (!privileged) {
    missing.push('root or CAP_BPF+CAP_PERFMON');
    hints.push('run as root, or grant the capabilities (setcap cap_bpf,cap_perfmon+ep, or the container securityContext)');
  }
  let btf = true;
  try {
    accessSync('/sys/kernel/btf/vmlinux', constants.R_OK);
  } catch {
    btf = false;
    missing.push('kernel BTF (/sys/kernel/btf/vmlinux)');
    hints.push('use a kernel built with CONFIG_DEBUG_INFO_BTF=y');
  }
  const loaded = loadAddon();
  const result: KernelSupport = { ok: false, missing, hint: '', privileged, btf, addonPath: null };
  if ('error' in loaded) {
    missing.push('the native addon');
    hints.push('build it with npm run build:kernel');
    result.addonError = loaded.error;
  } else {
    result.addonPath = loaded.path;
    result.libbpfVersion = loaded.addon.libbpfVersion;
    if (btf) {
      const probe = loaded.addon.probe();
      result.probe = probe;
      const canSockets = probe.tpBtfSockSendLength || probe.tracepointSockSendLength || probe.kprobes;
      if (!canSockets) {
        missing.push('a socket hook (sock_send_length tracepoint, Linux 6.3+, or kprobes)');
        hints.push(`this kernel has neither: ${probe.kprobesWhy || 'no sock tracepoints'}`);
      }
      if (!probe.tpBtfSchedProcessExec && !probe.tracepointSchedProcessExec) {
        missing.push('the sched_process_exec tracepoint');
        hints.push(probe.tracefs ? 'tracefs lacks sched events' : 'mount tracefs at /sys/kernel/tracing');
      }
    }
  }
  result.ok = missing.length === 0;
  result.hint = hints.join('; ');
  return result;
}
