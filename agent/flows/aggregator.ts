// Flow aggregation over one flush interval. Records (drained kernel map entries, or synthetic
// ones) are added as they come; nothing about the process is resolved on the way in, only the
// pid and start time are kept. Attribution happens at flush, so a flow that arrives before its
// process's exec event (reordering between the ring buffer and the map drain) is still
// attributed to the exec'd binary, as long as the exec arrives before the interval is emitted.
//
// Aggregation levels, as Calico's:
//   full         the whole 5-tuple (default; community_id needs it)
//   source-port  the source (client) port aggregated away
//   prefix       addresses aggregated to endpoint names (host, pvt, pub), dest port kept
// Per flow, at most `process_limit` logs: with more process names than that, the busiest
// `process_limit - 1` names keep their own log and the rest fold into one log with process_name
// "*" (num_process_names says how many); within a name, several pids make process_id "*", and at most
// `args_limit` distinct argument lists are listed; num_process_* always hold the true counts.
// num_flows_started/completed: TCP's come from the kernel's state changes; UDP's from
// UdpFlowTracker (first seen, then idle, process exit or agent stop), as Calico counts them.
import { readFileSync } from 'node:fs';
import type { FlowLog } from '../../schema/index.js';
import type { FlowRecord } from '../../native/types.js';
import { communityId } from './community-id.js';
import type { EndpointNamer } from './endpoints.js';
import { containerById, containerByPort, type ContainerInfo, type Endpoint, type PodInfo } from '../identity/pod-lookup.js';
import { NO_PROCESS, imageAt, processName, type ProcessEntry, type ProcessSource } from '../process/process-cache.js';
import { UdpFlowTracker, type UdpFlowIdentity } from './udp-flows.js';

export const AGGREGATION_LEVELS = ['full', 'source-port', 'prefix'] as const;
export type AggregationLevel = (typeof AGGREGATION_LEVELS)[number];

/** The settings among these carry their names in agent/config.ts, and no defaults here. */
export interface AggregatorOptions {
  /** Node name in the documents (`host`). */
  node_name: string;
  aggregation: AggregationLevel;
  /** Community ID in flow logs (at the full level, the only one with the source port). */
  community_id: boolean;
  /** Flow logs per flow with their own process name (at least 1). */
  process_limit: number;
  /** Distinct argument lists listed per flow log (at least 1). */
  args_limit: number;
  /** Most (flow, process) slots held in one interval; records beyond are dropped and counted. */
  max_flows: number;
  /** A UDP flow idle this long is completed (0: no UDP start/complete tracking). */
  udp_flow_timeout: number;
  /** UDP flows remembered between intervals at most; beyond, the least recently seen is completed early. */
  udp_max_flows: number;
  endpoints: EndpointNamer;
  /** Resolves a record's process at flush. */
  resolve: (pid: number, startNs: bigint, comm: string) => ProcessEntry;
  /** The executable of a process's parent image, when known. */
  parentName?: (e: ProcessEntry) => string | undefined;
  /** The user name a process runs as, when known. */
  userName?: (e: ProcessEntry) => string | undefined;
  /** Domain names an address was resolved from (DNS answers seen on this host), at most `limit`. */
  domains?: (ip: string, limit: number) => string[];
  /** Domain names per flow log at most. */
  flow_domains_limit: number;
}

/** The value a flow log gives for something its processes may differ in: theirs, or "*". */
const MANY = '*';

export interface FlushOptions {
  /** The agent stops: every UDP flow still remembered is completed in this interval. */
  final?: boolean;
}

/**
 * One socket flow (full 5-tuple) of one process start in the current interval. The level is
 * applied at flush, when slots are grouped into flow logs, so the hot path does no string work.
 */
interface Slot {
  /** Next slot with the same hash (collision chain). */
  next: Slot | undefined;
  proto: number;
  role: FlowRecord['role'];
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  pid: number;
  startNs: bigint;
  comm: string;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  started: number;
  completed: number;
  tcpSamples: number;
  srttSum: number;
  srttMax: number;
  minRttSum: number;
  minRttMax: number;
  cwndSum: number;
  cwndMin: number;
  mssSum: number;
  mssMin: number;
  retrans: number;
  lost: number;
  /** The latest I/O of the interval (boottime ns), to tell which image of the process did it. */
  lastSeenNs: bigint;
  /** A UDP flow's record across intervals, where its attribution is remembered. */
  udp: UdpFlowIdentity | undefined;
}

interface ProcessSummary {
  pids: number;
  execIds: number;
  /** Distinct argument lists, sorted, up to the limit. */
  args: string[];
  numArgs: number;
  source: ProcessSource;
  argsTruncated: boolean;
  oneContainer: boolean;
  /** The parent image's executable and the user name, or "*" when the entries differ; '' unknown. */
  parentName: string;
  userName: string;
}

/** A slot seen from the reporter's side, with the level applied. */
interface Oriented {
  slot: Slot;
  reporter: 'src' | 'dst';
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
}

export interface AggregatorStats {
  recordsIn: number;
  recordsDropped: number;
  flowsEmitted: number;
}

const PROTO_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmp6' };

/** FNV-1a over a string's UTF-16 units, continuing from `h`. */
function hashString(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

function hashInt(v: number, h: number): number {
  return Math.imul(h ^ v, 0x01000193);
}

/** The kernel's ephemeral port range: ports in it are client ports. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi) return [lo, hi];
  } catch {
    // not Linux: the IANA range
  }
  return [49152, 65535];
}

const [EPHEMERAL_LO, EPHEMERAL_HI] = ephemeralRange();
const isEphemeral = (port: number) => port >= EPHEMERAL_LO && port <= EPHEMERAL_HI;

/**
 * The kernel could not tell the roles (UDP without connect, mostly): a port outside the
 * ephemeral range is the service port; when both or neither are, the lower port is.
 */
export function localIsClient(localPort: number, remotePort: number): boolean {
  const le = isEphemeral(localPort);
  const re = isEphemeral(remotePort);
  if (le !== re) return le;
  return localPort >= remotePort;
}

/** One interval's socket flows: hash of the 5-tuple -> chain of its slots (one per process and role). */
type SlotTable = Map<number, Slot>;

function* chain(head: Slot): Generator<Slot> {
  for (let s: Slot | undefined = head; s !== undefined; s = s.next) yield s;
}

export class FlowAggregator {
  /** Number keys (small integers) keep lookups free of string hashing. */
  private slots: SlotTable = new Map();
  /** Each process's summary in the flush being emitted (its documents share it, args list included). */
  private oneProcess = new Map<ProcessEntry, ProcessSummary>();
  private slotCount = 0;
  private intervalStartMs: number;
  readonly level: AggregationLevel;
  private readonly processLimit: number;
  private readonly argsLimit: number;
  /** UDP start/complete bookkeeping across intervals; undefined when turned off. */
  readonly udp: UdpFlowTracker | undefined;
  readonly stats: AggregatorStats = { recordsIn: 0, recordsDropped: 0, flowsEmitted: 0 };

  constructor(private readonly opts: AggregatorOptions, startMs = Date.now()) {
    this.level = opts.aggregation;
    this.processLimit = Math.max(1, opts.process_limit);
    this.argsLimit = Math.max(1, opts.args_limit);
    this.intervalStartMs = startMs;
    this.udp = opts.udp_flow_timeout > 0 ? new UdpFlowTracker(opts) : undefined;
  }

  get activeSlots(): number {
    return this.slotCount;
  }

  add(r: FlowRecord): void {
    this.stats.recordsIn++;
    const s = this.slotIn(this.slots, r.proto, r.role, r.localIp, r.localPort, r.remoteIp, r.remotePort, r.pid, r.pidStartNs, r.comm, true);
    if (s === undefined) {
      this.stats.recordsDropped++;
      return;
    }
    s.bytesIn += r.bytesIn;
    s.bytesOut += r.bytesOut;
    s.packetsIn += r.packetsIn;
    s.packetsOut += r.packetsOut;
    s.started += r.tcpStarted;
    s.completed += r.tcpCompleted;
    s.retrans += r.tcpRetransmits;
    s.lost += r.tcpLost;
    if (r.lastSeenNs > s.lastSeenNs) s.lastSeenNs = r.lastSeenNs;
    if (r.proto === 6 && r.tcpMss > 0) {
      // TCP stats are samples of the socket's latest state; one sample per record.
      s.srttSum += r.tcpSrttUs;
      s.minRttSum += r.tcpMinRttUs;
      s.cwndSum += r.tcpCwnd;
      s.mssSum += r.tcpMss;
      if (s.tcpSamples === 0 || r.tcpSrttUs > s.srttMax) s.srttMax = r.tcpSrttUs;
      if (s.tcpSamples === 0 || r.tcpMinRttUs > s.minRttMax) s.minRttMax = r.tcpMinRttUs;
      if (s.tcpSamples === 0 || r.tcpCwnd < s.cwndMin) s.cwndMin = r.tcpCwnd;
      if (s.tcpSamples === 0 || r.tcpMss < s.mssMin) s.mssMin = r.tcpMss;
      s.tcpSamples++;
    }
  }

  /** A process exited: its UDP flows are completed at the next flush. */
  processExited(pid: number, startNs: bigint): void {
    this.udp?.processExited(pid, startNs);
  }

  /**
   * The slot of one socket flow of one process, made when missing (unless `bounded` and the
   * table holds max_flows). The hash leaves the process out, so a chain holds every slot of one
   * 5-tuple and the full level groups chain by chain at flush.
   */
  private slotIn(
    table: SlotTable, proto: number, role: FlowRecord['role'], localIp: string, localPort: number, remoteIp: string, remotePort: number,
    pid: number, startNs: bigint, comm: string, bounded: boolean,
  ): Slot | undefined {
    let h = hashString(localIp, 0x811c9dc5);
    h = hashString(remoteIp, h);
    h = hashInt((localPort << 16) | remotePort, h);
    h = hashInt(proto, h) & 0x3fffffff;
    const head = table.get(h);
    let s = head;
    while (
      s !== undefined &&
      !(s.pid === pid && s.localPort === localPort && s.remotePort === remotePort && s.proto === proto &&
        s.localIp === localIp && s.remoteIp === remoteIp && s.role === role && s.startNs === startNs)
    ) {
      s = s.next;
    }
    if (s !== undefined) return s;
    if (bounded && this.slotCount >= this.opts.max_flows) return undefined;
    s = {
      next: head, proto, role, localIp, localPort, remoteIp, remotePort, pid, startNs, comm,
      bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, started: 0, completed: 0,
      tcpSamples: 0, srttSum: 0, srttMax: 0, minRttSum: 0, minRttMax: 0, cwndSum: 0, cwndMin: 0, mssSum: 0, mssMin: 0, retrans: 0, lost: 0,
      lastSeenNs: 0n, udp: undefined,
    };
    table.set(h, s);
    if (table === this.slots) this.slotCount++;
    return s;
  }

  /** Ends the interval at `endMs`: returns its flow logs and starts the next interval. */
  flush(endMs = Date.now(), opts: FlushOptions = {}): FlowLog[] {
    return [...this.flushDocs(endMs, opts)];
  }

  /**
   * Ends the interval at `endMs` now (records added from here on belong to the next one) and
   * returns its flow logs as a generator that builds them one flow at a time, taking each flow
   * out of the table as it goes: a sink serialises them batch by batch, and memory stays bounded
   * by the table the interval already held, never by every document of the interval at once.
   */
  flushDocs(endMs = Date.now(), opts: FlushOptions = {}): Generator<FlowLog> {
    const table = this.slots;
    this.slots = new Map();
    this.oneProcess = new Map();
    this.slotCount = 0;
    const startMs = this.intervalStartMs;
    this.intervalStartMs = endMs;
    this.settleUdp(table, endMs, opts.final === true);
    return this.emit(table, new Date(startMs).toISOString(), new Date(endMs).toISOString());
  }

  /**
   * UDP flows seen for the first time are started in this interval; idle ones, those of exited
   * processes (and on the final flush all of them) are completed, in a slot of their own when
   * they had no traffic in this interval.
   */
  private settleUdp(table: SlotTable, endMs: number, final: boolean): void {
    const udp = this.udp;
    if (udp === undefined) return;
    const done: UdpFlowIdentity[] = [];
    for (const head of table.values()) {
      for (let s: Slot | undefined = head; s !== undefined; s = s.next) {
        if (s.proto !== 17) continue;
        const tracked = udp.seen(s, endMs, (f) => done.push(f));
        s.udp = tracked;
        if (tracked.sightings === 1) s.started++;
      }
    }
    udp.settle(endMs, (f) => done.push(f), final);
    for (const f of done) {
      const s = this.slotIn(table, 17, f.role, f.localIp, f.localPort, f.remoteIp, f.remotePort, f.pid, f.startNs, f.comm, false)!;
      s.completed++;
      s.udp = f;
    }
  }

  private *emit(table: SlotTable, start: string, end: string): Generator<FlowLog> {
    const out: FlowLog[] = [];
    if (this.level === 'full') {
      // A flow log is one 5-tuple seen from one side: it lives in one chain.
      for (const [h, head] of table) {
        table.delete(h);
        if (head.next === undefined) this.emitFlow([this.orient(head)], start, end, out);
        else for (const g of this.group(chain(head)).values()) this.emitFlow(g, start, end, out);
        this.stats.flowsEmitted += out.length;
        // One yield each (yield* would go through the array's iterator).
        for (let i = 0; i < out.length; i++) yield out[i]!;
        out.length = 0;
      }
      return;
    }
    // Coarser levels merge chains: group the whole interval (slot references, no documents).
    const groups = this.group((function* () {
      for (const head of table.values()) yield* chain(head);
    })());
    table.clear();
    for (const [key, g] of groups) {
      groups.delete(key);
      this.emitFlow(g, start, end, out);
      this.stats.flowsEmitted += out.length;
      for (let i = 0; i < out.length; i++) yield out[i]!;
      out.length = 0;
    }
  }

  /** Socket flows -> flow log groups at the configured level. */
  private group(slots: Iterable<Slot>): Map<string, Oriented[]> {
    const groups = new Map<string, Oriented[]>();
    for (const s of slots) {
      const o = this.orient(s);
      const key = `${s.proto}|${o.reporter}|${o.srcIp}|${o.srcPort}|${o.dstIp}|${o.dstPort}`;
      const g = groups.get(key);
      if (g) g.push(o);
      else groups.set(key, [o]);
    }
    return groups;
  }

  /**
   * Which side this host is on: the kernel's view when it has one, else the lower port is taken
   * as the service port (ephemeral client ports are high). Then the level drops what it drops:
   * the source port (source-port, prefix) and the addresses, replaced by endpoint names (prefix).
   */
  private orient(s: Slot): Oriented {
    const local = s.role === 'client' ? true : s.role === 'server' ? false : localIsClient(s.localPort, s.remotePort);
    let srcIp = local ? s.localIp : s.remoteIp;
    let dstIp = local ? s.remoteIp : s.localIp;
    const srcPort = this.level === 'full' ? (local ? s.localPort : s.remotePort) : -1;
    const dstPort = local ? s.remotePort : s.localPort;
    if (this.level === 'prefix') {
      // Namespace too: two namespaces may run deployments of the same name.
      const src = this.endpointOf(srcIp, local);
      const dst = this.endpointOf(dstIp, !local);
      // An external destination is grouped by the name it was asked for, when an answer gave it:
      // "which process talks to which domain" survives the aggregation that drops the addresses.
      const domain = dst.type === 'net' ? this.groupDomain(dstIp) : undefined;
      srcIp = `${src.namespace}/${src.nameAggr}`;
      dstIp = domain ? `${dst.namespace}/${dst.nameAggr}/${domain}` : `${dst.namespace}/${dst.nameAggr}`;
    }
    return { slot: s, reporter: local ? 'src' : 'dst', srcIp, srcPort, dstIp, dstPort };
  }

  private groupDomain(ip: string): string | undefined {
    return this.opts.domains && this.opts.flow_domains_limit > 0 ? this.opts.domains(ip, 1)[0] : undefined;
  }

  private endpointOf(ip: string, isLocal: boolean): Endpoint {
    return isLocal ? this.opts.endpoints.local(ip) : this.opts.endpoints.of(ip);
  }

  /**
   * The slot's process. A UDP flow remembers it: its completion comes an idle timeout later, when
   * the process may have left the cache, and would otherwise fall back to the task name.
   */
  private attribute(s: Slot): ProcessEntry {
    // I/O before the process's last exec (without fork) was the previous image's.
    const e = imageAt(this.opts.resolve(s.pid, s.startNs, s.comm), s.lastSeenNs);
    const u = s.udp;
    if (u === undefined) return e;
    if (e.source === 'taskname' && u.attribution !== undefined && u.attribution.source !== 'taskname') return u.attribution;
    u.attribution = e;
    return e;
  }

  /** One flow's slots -> its logs, one per process name up to the limit, then a "*" log. */
  private emitFlow(slots: Oriented[], start: string, end: string, out: FlowLog[]): void {
    if (slots.length === 1) {
      // The common case (one socket, one process): no grouping by name to do.
      const s = slots[0]!.slot;
      const e = this.attribute(s);
      out.push(this.buildLog(slots, [e], processName(e), 1, start, end));
      return;
    }
    const byName = new Map<string, { entries: ProcessEntry[]; slots: Oriented[]; bytes: number }>();
    for (const o of slots) {
      const e = this.attribute(o.slot);
      const name = processName(e);
      const b = byName.get(name) ?? { entries: [], slots: [], bytes: 0 };
      b.entries.push(e);
      b.slots.push(o);
      b.bytes += o.slot.bytesIn + o.slot.bytesOut;
      byName.set(name, b);
    }
    const names = [...byName.keys()].sort((a, b) => byName.get(b)!.bytes - byName.get(a)!.bytes || (a < b ? -1 : 1));
    const own = names.length > this.processLimit ? names.slice(0, this.processLimit - 1) : names;
    for (const name of own) {
      const b = byName.get(name)!;
      out.push(this.buildLog(b.slots, b.entries, name, 1, start, end));
    }
    if (own.length < names.length) {
      const rest = names.slice(own.length);
      const restSlots = rest.flatMap((n) => byName.get(n)!.slots);
      const restEntries = rest.flatMap((n) => byName.get(n)!.entries);
      out.push(this.buildLog(restSlots, restEntries, '*', rest.length, start, end));
    }
  }

  /** What a flow log says about its processes: distinct counts, the args listed, the best source. */
  private summarize(entries: ProcessEntry[]): ProcessSummary {
    const e0 = entries[0]!;
    let same = true;
    for (let i = 1; i < entries.length && same; i++) same = entries[i] === e0;
    if (same) {
      // One process (possibly over several sockets): nothing to count, and the same for each of
      // its flows in this flush.
      let one = this.oneProcess.get(e0);
      if (one === undefined) {
        one = {
          pids: 1, execIds: 1, args: e0.argsText ? [e0.argsText] : [], numArgs: e0.argsText ? 1 : 0, source: e0.source, argsTruncated: e0.argsTruncated, oneContainer: true,
          parentName: this.opts.parentName?.(e0) ?? '', userName: this.opts.userName?.(e0) ?? '',
        };
        this.oneProcess.set(e0, one);
      }
      return one;
    }
    const pids = new Set<number>();
    const execIds = new Set<string>();
    const argLists = new Set<string>();
    const sources = new Set<ProcessSource>();
    const containers = new Set<string>();
    const parents = new Set<string>();
    const users = new Set<string>();
    let argsTruncated = false;
    const seen = new Set<ProcessEntry>();
    for (const e of entries) {
      if (seen.has(e)) continue;
      seen.add(e);
      parents.add(this.opts.parentName?.(e) ?? '');
      users.add(this.opts.userName?.(e) ?? '');
      pids.add(e.pid);
      execIds.add(e.execId);
      if (e.argsText) argLists.add(e.argsText);
      sources.add(e.source);
      containers.add(e.containerId);
      argsTruncated ||= e.argsTruncated;
    }
    return {
      pids: pids.size,
      execIds: execIds.size,
      args: [...argLists].sort().slice(0, this.argsLimit),
      numArgs: argLists.size,
      source: sources.has('kernel') ? 'kernel' : sources.has('procfs') ? 'procfs' : 'taskname',
      argsTruncated,
      oneContainer: containers.size === 1,
      parentName: parents.size === 1 ? [...parents][0]! : MANY,
      userName: users.size === 1 ? [...users][0]! : MANY,
    };
  }

  /**
   * The container a flow's side names: on this host's side the processes' own (when they share
   * one), on a peer pod the one that declares the port it was reached at, or its only one.
   */
  private containerOf(ep: Endpoint, isLocal: boolean, port: number | undefined, entries: ProcessEntry[], one: boolean): ContainerInfo | undefined {
    const pod: PodInfo | undefined = ep.pod;
    if (!pod) return undefined;
    if (isLocal) return one && entries[0]!.containerId ? containerById(pod, entries[0]!.containerId) : undefined;
    return port === undefined ? (pod.containers.length === 1 ? pod.containers[0] : undefined) : containerByPort(pod, port);
  }

  private buildLog(slots: Oriented[], entries: ProcessEntry[], name: string, numNames: number, start: string, end: string): FlowLog {
    const f = slots[0]!;
    const local = f.reporter === 'src';
    // Endpoint names come from the real addresses (at the prefix level f.srcIp is already namespace/name).
    const srcEp = this.endpointOf(local ? f.slot.localIp : f.slot.remoteIp, local);
    const dstEp = this.endpointOf(local ? f.slot.remoteIp : f.slot.localIp, !local);
    const p = this.summarize(entries);
    // The distinct 5-tuples a coarser level merged (at the full level a flow log is one).
    const tuples = this.level === 'full' ? undefined : new Set<string>();
    let bytesIn = 0, bytesOut = 0, packetsIn = 0, packetsOut = 0, started = 0, completed = 0;
    let samples = 0, srttSum = 0, srttMax = 0, minRttSum = 0, minRttMax = 0, cwndSum = 0, cwndMin = 0, mssSum = 0, mssMin = 0, retrans = 0, lost = 0;
    for (const o of slots) {
      const s = o.slot;
      tuples?.add(`${s.localIp}|${s.localPort}|${s.remoteIp}|${s.remotePort}`);
      bytesIn += s.bytesIn;
      bytesOut += s.bytesOut;
      packetsIn += s.packetsIn;
      packetsOut += s.packetsOut;
      started += s.started;
      completed += s.completed;
      retrans += s.retrans;
      lost += s.lost;
      if (s.tcpSamples > 0) {
        srttMax = samples === 0 ? s.srttMax : Math.max(srttMax, s.srttMax);
        minRttMax = samples === 0 ? s.minRttMax : Math.max(minRttMax, s.minRttMax);
        cwndMin = samples === 0 ? s.cwndMin : Math.min(cwndMin, s.cwndMin);
        mssMin = samples === 0 ? s.mssMin : Math.min(mssMin, s.mssMin);
        samples += s.tcpSamples;
        srttSum += s.srttSum;
        minRttSum += s.minRttSum;
        cwndSum += s.cwndSum;
        mssSum += s.mssSum;
      }
    }
    const single = p.pids === 1 && name !== '*' ? entries[0]! : undefined;
    const doc: FlowLog = {
      '@timestamp': end,
      start_time: start,
      end_time: end,
      host: this.opts.node_name,
      source_name: srcEp.name,
      source_name_aggr: srcEp.nameAggr,
      source_namespace: srcEp.namespace,
      source_type: srcEp.type,
      dest_name: dstEp.name,
      dest_name_aggr: dstEp.nameAggr,
      dest_namespace: dstEp.namespace,
      dest_type: dstEp.type,
      proto: PROTO_NAMES[f.slot.proto] ?? String(f.slot.proto),
      reporter: f.reporter,
      bytes_in: bytesIn,
      bytes_out: bytesOut,
      packets_in: packetsIn,
      packets_out: packetsOut,
      num_flows: tuples ? Math.max(1, tuples.size) : 1,
      num_flows_started: started,
      num_flows_completed: completed,
      process_name: name,
      num_process_names: numNames,
      process_id: single ? (single.pid > 0 ? String(single.pid) : NO_PROCESS) : '*',
      num_process_ids: p.pids,
      process_args: name === '*' ? ['*'] : p.args,
      num_process_args: p.numArgs,
    };
    if (srcEp.labels?.length) doc.source_labels = srcEp.labels;
    if (dstEp.labels?.length) doc.dest_labels = dstEp.labels;
    const realDstIp = local ? f.slot.remoteIp : f.slot.localIp;
    if (srcEp.pod) {
      doc.source_workload = srcEp.pod.workload.name;
      doc.source_workload_kind = srcEp.pod.workload.kind;
      const c = this.containerOf(srcEp, local, undefined, entries, p.oneContainer);
      if (c) {
        doc.source_container_name = c.name;
        doc.source_container_image = c.image;
        doc.source_container_image_id = c.imageId;
      }
    }
    if (dstEp.pod) {
      doc.dest_workload = dstEp.pod.workload.name;
      doc.dest_workload_kind = dstEp.pod.workload.kind;
      const c = this.containerOf(dstEp, !local, f.dstPort, entries, p.oneContainer);
      if (c) {
        doc.dest_container_name = c.name;
        doc.dest_container_image = c.image;
        doc.dest_container_image_id = c.imageId;
      }
    }
    if (this.opts.domains && this.opts.flow_domains_limit > 0) {
      let names = this.opts.domains(realDstIp, this.opts.flow_domains_limit);
      // At the prefix level the group's domain comes first: the first address's names may start elsewhere.
      const group = this.level === 'prefix' ? f.dstIp.split('/')[2] : undefined;
      if (group && names[0] !== group) names = [group, ...names.filter((n) => n !== group)].slice(0, this.opts.flow_domains_limit);
      if (names.length) doc.dest_domains = names;
    }
    const svc = this.opts.endpoints.service(realDstIp, f.dstPort, f.slot.proto);
    if (svc) {
      doc.dest_service_name = svc.name;
      doc.dest_service_namespace = svc.namespace;
      doc.dest_service_port = svc.portName || '-';
      doc.dest_service_port_num = svc.port;
    }
    if (this.level !== 'prefix') {
      doc.source_ip = f.srcIp;
      doc.dest_ip = f.dstIp;
    }
    if (f.srcPort >= 0) doc.source_port = f.srcPort;
    doc.dest_port = f.dstPort;
    if (this.level === 'full' && this.opts.community_id) doc.community_id = communityId(f.slot.proto, f.srcIp, f.srcPort, f.dstIp, f.dstPort);
    if (p.execIds === 1 && name !== '*' && entries[0]!.pid > 0) doc.process_exec_id = entries[0]!.execId;
    if (name !== '*') {
      doc.process_source = p.source;
      doc.process_args_truncated = p.argsTruncated;
    }
    if (single && single.uid >= 0) doc.process_user_id = single.uid;
    if (name === '*') {
      doc.process_parent_name = MANY;
      doc.process_user_name = MANY;
    } else {
      if (p.parentName) doc.process_parent_name = p.parentName;
      if (p.userName) doc.process_user_name = p.userName;
    }
    if (p.oneContainer && entries[0]!.containerId) doc.container_id = entries[0]!.containerId;
    if (samples > 0) {
      doc.tcp_mean_send_congestion_window = Math.round(cwndSum / samples);
      doc.tcp_min_send_congestion_window = cwndMin;
      doc.tcp_mean_smooth_rtt = Math.round(srttSum / samples);
      doc.tcp_max_smooth_rtt = srttMax;
      doc.tcp_mean_min_rtt = Math.round(minRttSum / samples);
      doc.tcp_max_min_rtt = minRttMax;
      doc.tcp_mean_mss = Math.round(mssSum / samples);
      doc.tcp_min_mss = mssMin;
    }
    if (f.slot.proto === 6) {
      doc.tcp_total_retransmissions = retrans;
      doc.tcp_lost_packets = lost;
    }
    return doc;
  }
}
