// A KernelCollector fed by code instead of the kernel: unit tests replay exact orderings
// through it and the benchmark pushes synthetic streams, through the same agent code paths.
import type { ExecEvent, ExitEvent, FlowRecord, HookReport, KernelCollector, KernelCounters, ProcessEvent } from '../native/types.js';

export class SyntheticCollector implements KernelCollector {
  readonly hooks: HookReport[] = [{ hook: 'all', via: 'none', target: 'synthetic', reason: 'synthetic source (tests, benchmarks)' }];
  private onEvents: ((batch: ProcessEvent[]) => void) | undefined;
  private flows: FlowRecord[] = [];
  private delivered = 0;
  closed = false;

  start(onEvents: (batch: ProcessEvent[]) => void): void {
    this.onEvents = onEvents;
  }

  /** Delivers a batch of process events now, as the ring buffer thread would. */
  emit(batch: ProcessEvent[]): void {
    if (!this.onEvents) throw new Error('synthetic collector: start() first');
    this.delivered += batch.length;
    this.onEvents(batch);
  }

  /** Queues flow records for the next drain. */
  addFlows(records: FlowRecord[]): void {
    for (const r of records) this.flows.push(r);
  }

  drainFlows(): FlowRecord[] {
    const out = this.flows;
    this.flows = [];
    return out;
  }

  counters(): KernelCounters {
    return { eventsLost: 0, eventsDroppedUser: 0, flowMapFull: 0, eventsDelivered: this.delivered };
  }

  close(): void {
    this.closed = true;
  }
}

/** A flow record with defaults for everything not given. */
export function flowRecord(p: Partial<FlowRecord> & Pick<FlowRecord, 'pid' | 'pidStartNs'>): FlowRecord {
  return {
    family: 4, proto: 6, localIp: '10.0.0.1', localPort: 40000, remoteIp: '10.0.0.2', remotePort: 443, role: 'client',
    comm: 'synthetic', bytesOut: 0, bytesIn: 0, packetsOut: 0, packetsIn: 0, tcpStarted: 0, tcpCompleted: 0,
    tcpSrttUs: 0, tcpMinRttUs: 0, tcpCwnd: 0, tcpMss: 0, tcpRetransmits: 0, tcpLost: 0, firstSeenNs: 0n, lastSeenNs: 0n,
    ...p,
  };
}

// One credentials object and one capability set for every synthetic exec, as the decoder shares
// them between records while the values repeat (native/decode.ts): a benchmark's memory per
// process is then what a node's would be.
const CREDS = Object.freeze({ uid: 1000, gid: 1000, euid: 1000, egid: 1000, suid: 1000, sgid: 1000, fsuid: 1000, fsgid: 1000 });
const CAPS = Object.freeze({ permitted: 0n, effective: 0n, inheritable: 0n });

/** An exec event with defaults (ppid 1, uid 1000, cwd /tmp); `args` excludes argv[0]. */
export function execEvent(pid: number, startNs: bigint, filename: string, args: string[], extra: Partial<ExecEvent> = {}): ExecEvent {
  return {
    kind: 'exec', pid, ppid: 1, startNs, timeNs: startNs + 1000n, comm: filename.split('/').pop()!.slice(0, 15),
    uid: 1000, gid: 1000, parentStartNs: 1_000_000_000n, cgroupId: 0n, filename, args: [filename, ...args],
    argsTruncated: false, cwd: '/tmp', errorFlags: 0,
    creds: CREDS, auid: 1000, caps: CAPS, ...extra,
  };
}

export function exitEvent(pid: number, startNs: bigint, exitCode = 0, signal = 0, extra: Partial<ExitEvent> = {}): ExitEvent {
  return { kind: 'exit', pid, ppid: 1, startNs, timeNs: startNs + 5_000_000_000n, comm: 'x', exitCode, signal, ...extra };
}
