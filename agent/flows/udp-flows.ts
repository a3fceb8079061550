// UDP has no handshake, so the kernel cannot say when a UDP flow starts or ends. Like Calico, the
// agent decides: a UDP flow is started in the interval in which it is first seen, and completed
// once it has been idle for `udp_flow_timeout` (checked at each flush), when its process exits,
// or when the agent stops. Between those it is remembered here, bounded: when `udp_max_flows`
// are remembered the least recently seen flow is completed early to make room (counted as an
// eviction), so the started and completed counts stay balanced.
import { processKey, type ProcessKey } from '../process/exec-id.js';
import type { FlowRecord } from '../../native/types.js';
import type { ProcessEntry } from '../process/process-cache.js';
import { OrderedMap } from '../../common/ordered-map.js';

/** What identifies one UDP socket flow, and is enough to report its completion later. */
export interface UdpFlowIdentity extends Pick<FlowRecord, 'localIp' | 'localPort' | 'remoteIp' | 'remotePort' | 'role' | 'pid' | 'comm'> {
  /** The process's start (the record's pidStartNs). */
  startNs: bigint;
  /**
   * The process the flow was last attributed to: its completion, an idle timeout later, may come
   * after the process left the cache, and must still carry the same name and arguments.
   */
  attribution?: ProcessEntry;
}

export interface TrackedUdpFlow extends UdpFlowIdentity {
  lastSeenMs: number;
  procKey: ProcessKey;
  /** Intervals in which the flow had traffic; 1 = started in this one. */
  sightings: number;
}

export type UdpCompletionReason = 'idle' | 'process_exit' | 'evicted' | 'shutdown';

/** The settings of the same names (agent/config.ts), as the aggregator passes them on. */
export interface UdpTrackerOptions {
  /** Idle time after which a flow is completed (ms). */
  udp_flow_timeout: number;
  /** Flows remembered at most (at least 1). */
  udp_max_flows: number;
}

export interface UdpTrackerStats {
  started: number;
  completed: Record<UdpCompletionReason, number>;
}

function flowKey(f: UdpFlowIdentity): string {
  return `${f.localIp}|${f.localPort}|${f.remoteIp}|${f.remotePort}|${f.role}|${f.pid}|${f.startNs}`;
}

/** A process start, as the process cache keys it: every exit is noted, so the key is the cache's recent one. */
function procKey(pid: number, startNs: bigint): ProcessKey {
  return processKey(pid, startNs);
}

export class UdpFlowTracker {
  /** Key -> flow, in order of last sighting (a sighting moves the flow to the end). */
  private readonly flows = new OrderedMap<string, TrackedUdpFlow>();
  /** Flows remembered per process start, so an exit only costs a scan when it matters. */
  private readonly perProcess = new Map<ProcessKey, number>();
  /**
   * Exits since the last settle, in order, repeats and all: appended, not hashed, since every exit
   * of the node comes here and few of them are of processes with UDP flows.
   */
  private exited: ProcessKey[] = [];
  readonly stats: UdpTrackerStats = { started: 0, completed: { idle: 0, process_exit: 0, evicted: 0, shutdown: 0 } };

  private readonly maxFlows: number;

  constructor(private readonly opts: UdpTrackerOptions) {
    this.maxFlows = Math.max(1, opts.udp_max_flows);
  }

  get size(): number {
    return this.flows.size;
  }

  /**
   * A flow had traffic in the interval ending at `nowMs`: its record (sightings 1 = it started
   * now). Making room for it may complete the least recently seen flow, passed to `complete`.
   */
  seen(f: UdpFlowIdentity, nowMs: number, complete: (f: UdpFlowIdentity) => void): TrackedUdpFlow {
    const key = flowKey(f);
    const known = this.flows.get(key);
    if (known) {
      known.lastSeenMs = nowMs;
      known.sightings++;
      this.flows.set(key, known); // now the most recently seen
      return known;
    }
    if (this.flows.size >= this.maxFlows) {
      const [oldKey, old] = this.flows.oldest()!;
      this.forget(oldKey, old);
      this.stats.completed.evicted++;
      complete(old);
    }
    const pk = procKey(f.pid, f.startNs);
    const tracked: TrackedUdpFlow = {
      localIp: f.localIp, localPort: f.localPort, remoteIp: f.remoteIp, remotePort: f.remotePort,
      role: f.role, pid: f.pid, startNs: f.startNs, comm: f.comm, attribution: undefined, lastSeenMs: nowMs, procKey: pk, sightings: 1,
    };
    this.flows.set(key, tracked);
    this.perProcess.set(pk, (this.perProcess.get(pk) ?? 0) + 1);
    this.stats.started++;
    return tracked;
  }

  /**
   * The process exited: its flows complete at the next settle, after its last traffic is drained
   * (which may be the first traffic seen of a process that lived for milliseconds, so every exit
   * is kept until then). Bounded: past the limit an exit is ignored and its flows complete idle.
   */
  processExited(pid: number, startNs: bigint): void {
    if (this.exited.length < this.maxFlows) this.exited.push(procKey(pid, startNs));
  }

  /**
   * Completes, through `complete`, the flows idle since `nowMs - udp_flow_timeout` or longer and
   * those of exited processes; with `all` (the agent stops) every remembered flow.
   */
  settle(nowMs: number, complete: (f: UdpFlowIdentity) => void, all = false): void {
    if (all) {
      for (const [key, f] of this.flows) {
        this.forget(key, f);
        this.stats.completed.shutdown++;
        complete(f);
      }
      this.exited = [];
      return;
    }
    let gone: Set<ProcessKey> | undefined;
    for (const pk of this.exited) if (this.perProcess.has(pk)) (gone ??= new Set()).add(pk);
    if (gone) {
      for (const [key, f] of this.flows) {
        if (!gone.has(f.procKey)) continue;
        this.forget(key, f);
        this.stats.completed.process_exit++;
        complete(f);
      }
    }
    this.exited = [];
    // Oldest sightings first: stop at the first flow that is still fresh.
    const cutoff = nowMs - this.opts.udp_flow_timeout;
    for (const [key, f] of this.flows) {
      if (f.lastSeenMs > cutoff) break;
      this.forget(key, f);
      this.stats.completed.idle++;
      complete(f);
    }
  }

  private forget(key: string, f: TrackedUdpFlow): void {
    this.flows.delete(key);
    const n = (this.perProcess.get(f.procKey) ?? 1) - 1;
    if (n > 0) this.perProcess.set(f.procKey, n);
    else this.perProcess.delete(f.procKey);
  }
}
