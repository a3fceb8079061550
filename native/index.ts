// The kernel collector as the agent uses it: open (load + attach with fallbacks), batches of
// process events, drained flows, counters, close. Implements native/types.ts over the addon.
import { closeSync } from 'node:fs';
import { loadAddon, type RawCollector, type RawProgram, type RawCounters } from './binding.js';
import { decodeEvents, eachFlowRecord } from './decode.js';
import { KernelLoadError, KernelSupportError } from './errors.js';
import { checkKernelSupport } from './support.js';
import type { FlowRecord, HookReport, KernelCollector, KernelCollectorOptions, KernelCounters, ProcessEvent } from './types.js';
import { PF_ARGS_MAX } from './layout.js';
import { dnsLocalSockets as parseDnsLocalSockets, KERNEL_DEFAULTS } from './settings.js';

export * from './types.js';
export { checkKernelSupport, type KernelSupport } from './support.js';
export { KernelSupportError, KernelLoadError } from './errors.js';
export { decodeEvents, decodeFlows, eachFlowRecord, formatAddress } from './decode.js';

/**
 * Turns on the kernel's run-time statistics of every BPF program (each program's run_time_ns
 * and run_cnt, read through `programs()`) until `close()`. They cost two clock reads per program
 * run while on, for every program on the host, so benchmarks keep them off while they time
 * throughput. Throws KernelSupportError when the kernel refuses (before 5.8, or without
 * CAP_SYS_ADMIN) or the addon is missing.
 */
export function enableRunTimeStats(): { close(): void } {
  const loaded = loadAddon();
  if ('error' in loaded) throw new KernelSupportError(loaded.error, 'run npm run build:kernel', ['the native addon']);
  let fd: number;
  try {
    fd = loaded.addon.enableRunTimeStats();
  } catch (err) {
    throw new KernelSupportError((err as Error).message, 'run as root (CAP_SYS_ADMIN) on Linux 5.8 or newer, or set the sysctl kernel.bpf_stats_enabled=1 yourself',
      ['BPF run-time statistics'], { cause: err });
  }
  let open = true;
  return {
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** What `openKernelCollector` returns: the contract plus inspection helpers. */
export interface OpenKernelCollector extends KernelCollector {
  /** Loaded programs (attached or only verified), by BPF program name, with the kernel's id and run statistics. */
  programs(): RawProgram[];
  /** Counters plus the addon's extras (drain method). */
  counters(): KernelCounters & Pick<RawCounters, 'drainMethod'>;
  /** Called with errors thrown by the `onEvents` callback (they never reach the poller). */
  onCallbackError?: (err: unknown) => void;
}

const open = new Set<RawCollector>();
let exitHooked = false;

function closeAllOnExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const c of open) c.close();
    open.clear();
  });
}

/**
 * Load the programs, attach the best hook per logical hook, and return the collector.
 * Throws KernelSupportError (with `hint`) when privileges, BTF or the addon are missing, and
 * KernelLoadError when the kernel rejects every flavour of a hook.
 */
export function openKernelCollector(opts: KernelCollectorOptions = {}): OpenKernelCollector {
  const {
    flowMapEntries = KERNEL_DEFAULTS.flow_map_entries,
    socketMapEntries = KERNEL_DEFAULTS.socket_map_entries,
    maxArgsBytes = PF_ARGS_MAX,
    ringBufferBytes = KERNEL_DEFAULTS.ring_buffer_size,
    hookMode = KERNEL_DEFAULTS.hook_mode,
    ignorePid,
    udpPeers = true,
    namespaces = false,
    dns = true,
    dnsPort = 53,
    dnsLocal = KERNEL_DEFAULTS.dns_local,
    dnsLocalSockets = parseDnsLocalSockets(KERNEL_DEFAULTS.dns_local_sockets),
  } = opts;
  const support = checkKernelSupport();
  if (!support.ok) {
    throw new KernelSupportError(`cannot collect: missing ${support.missing.join(', ')}`, support.hint, support.missing);
  }
  const loaded = loadAddon();
  if ('error' in loaded) throw new KernelSupportError(loaded.error, 'run npm run build:kernel', ['the native addon']);
  let raw: RawCollector;
  try {
    raw = new loaded.addon.Collector({ flowMapEntries, socketMapEntries, maxArgsBytes, ringBufferBytes, hookMode, ignorePid, udpPeers, namespaces, dns, dnsPort, dnsLocal, dnsLocalSockets });
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (err instanceof TypeError) throw err;
    if (/refused|Operation not permitted|Permission denied/.test(message)) {
      throw new KernelSupportError(message.replace(/^kernel collector: /, ''), 'run as root or with CAP_BPF+CAP_PERFMON',
        ['root or CAP_BPF+CAP_PERFMON'], { cause: err });
    }
    throw new KernelLoadError(message, { cause: err });
  }
  open.add(raw);
  closeAllOnExit();
  const hooks: HookReport[] = raw.hooks();
  let closed = false;

  const collector: OpenKernelCollector = {
    hooks,
    start(onEvents: (batch: ProcessEvent[]) => void): void {
      raw.start((buf) => {
        const events = decodeEvents(buf);
        if (events.length === 0) return;
        try {
          onEvents(events);
        } catch (err) {
          if (collector.onCallbackError) collector.onCallbackError(err);
          else throw err;
        }
      });
    },
    drainFlows(): Iterable<FlowRecord> {
      return eachFlowRecord(raw.drainFlows());
    },
    counters() {
      const c = raw.counters();
      return {
        eventsLost: c.eventsLost,
        eventsDroppedUser: c.eventsDroppedUser,
        flowMapFull: c.flowMapFull,
        eventsDelivered: c.eventsDelivered,
        sockMapFull: c.sockMapFull,
        execSeen: c.execSeen,
        flowUpdates: c.flowUpdates,
        dnsSeen: c.dnsSeen,
        dnsCut: c.dnsCut,
        drainMethod: c.drainMethod,
      };
    },
    programs: () => raw.programs(),
    close(): void {
      if (closed) return;
      closed = true;
      raw.close();
      open.delete(raw);
    },
  };
  return collector;
}
