// DNS log aggregation over one interval, as Calico aggregates its DNS logs: one entry per
// distinct (client process, client ip, server ip, qname, qclass, qtype, rcode, answer rrsets),
// with how many responses matched it and the latency of those whose query was seen.
//
// Latency is the time from a query to its response, matched on (client ip, client port, server
// ip, server port, DNS id, qname): the ids alone repeat across clients, and the name guards
// against a spoofed response that only guessed the id. Queries wait in `pending`, bounded by
// `dns_pending_max` (the oldest goes first, counted as overflowed) and by `dns_query_timeout`
// (counted as expired). A response with no pending query still counts, without a latency. A query sent
// again before its answer keeps the first send time, so a retry's latency includes the wait.
//
// Latency percentiles come from a small log-bucketed histogram per entry (LatencySketch): 8
// buckets per power of two, so a reported percentile is within about 6% of a sample value of
// the right rank; min, max and mean are exact. It holds only the buckets used (typically a
// dozen), and at most 8 per power of two: 8 * 53 + 1 for any latency a Number holds exactly.
//
// Times are the kernel's boottime in nanoseconds, as the records carry them; the interval's
// entries are capped at `dns_log_max_entries`, and responses beyond that are only counted (`unlogged`,
// Calico's UNLOGGED log).
import type { DnsMessage, DnsRecord } from './message.js';
import { OrderedMap } from '../../common/ordered-map.js';

/** The protocol of a local resolver's unix socket (native DnsChannel without 'net'). */
export type LocalResolver = 'nscd' | 'varlink';

/** The settings of these names (agent/config.ts). */
export interface DnsAggregatorOptions {
  /** Queries waiting for their response at most; beyond, the oldest is dropped (at least 1). */
  dns_pending_max: number;
  /** A query unanswered this long is dropped (ms). */
  dns_query_timeout: number;
  /** Entries per interval at most; responses that would make more are counted in `unlogged` (at least 1). */
  dns_log_max_entries: number;
}

/** One DNS message as the capture hands it over, oriented: the client is the querying side. */
export interface DnsObservation {
  /** The client process, opaque here (the caller's process key). */
  processKey: string;
  /** unix: through a local resolver's socket, with no addresses or ports ('' and 0). */
  proto: 'udp' | 'tcp' | 'unix';
  clientIp: string;
  clientPort: number;
  serverIp: string;
  serverPort: number;
  /** A local resolver's protocol (proto unix). */
  resolver?: LocalResolver;
  /** The local resolver connection the message went over (proto unix): requests pair with their replies on it. */
  connection?: bigint;
  /** When the message was seen (boottime ns). */
  timeNs: bigint;
  message: DnsMessage;
}

/** Answer records of one name, type and class (Calico's rrsets), data sorted. */
export interface DnsRRSet {
  name: string;
  type: number;
  class: number;
  rdata: string[];
}

export interface LatencySummary {
  /** Responses whose latency was measured (Calico's latency_count). */
  count: number;
  /** Nanoseconds, all of them. */
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

export interface DnsLogEntry {
  processKey: string;
  proto: 'udp' | 'tcp' | 'unix';
  clientIp: string;
  serverIp: string;
  serverPort: number;
  resolver?: LocalResolver;
  /** The first question's; "" with qtype and qclass 0 for a response without questions. */
  qname: string;
  qtype: number;
  qclass: number;
  rcode: number;
  /** Sorted by name, type, class. */
  rrsets: DnsRRSet[];
  /** Responses that matched this entry in the interval. */
  count: number;
  latency?: LatencySummary;
  firstNs: bigint;
  lastNs: bigint;
}

export interface DnsFlush {
  entries: DnsLogEntry[];
  /** Responses in the interval not given an entry because `maxEntries` were already held. */
  unlogged: number;
}

export interface DnsAggregatorStats {
  queries: number;
  responses: number;
  /** Responses matched to their query. */
  matched: number;
  /** Responses without a pending query. */
  unmatched: number;
  /** A query seen again (same client, server, id and name) while the first waited. */
  retransmitted: number;
  pendingExpired: number;
  pendingOverflowed: number;
}

interface Pending {
  sentNs: bigint;
}

interface Slot {
  entry: DnsLogEntry;
  sketch: LatencySketch;
}

export class DnsAggregator {
  /** Pending queries in the order they were first seen. */
  private readonly pending = new OrderedMap<string, Pending>();
  private slots = new Map<string, Slot>();
  private unlogged = 0;
  /** The latest time seen, what pending queries expire against between flushes. */
  private nowNs = 0n;
  private readonly timeoutNs: bigint;
  private readonly maxPending: number;
  private readonly maxEntries: number;
  readonly stats: DnsAggregatorStats = { queries: 0, responses: 0, matched: 0, unmatched: 0, retransmitted: 0, pendingExpired: 0, pendingOverflowed: 0 };

  constructor(opts: DnsAggregatorOptions) {
    this.timeoutNs = BigInt(Math.max(0, Math.floor(opts.dns_query_timeout))) * 1_000_000n;
    this.maxPending = Math.max(1, Math.floor(opts.dns_pending_max));
    this.maxEntries = Math.max(1, Math.floor(opts.dns_log_max_entries));
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** A query (qr clear) or a response (qr set). */
  observe(o: DnsObservation): void {
    if (o.timeNs > this.nowNs) this.nowNs = o.timeNs;
    this.expire(this.nowNs);
    if (o.message.qr) this.response(o);
    else this.query(o);
  }

  /** Drops the queries older than the timeout at `nowNs`; returns how many. */
  expire(nowNs: bigint): number {
    let n = 0;
    // Oldest first; times out of order by a little (per-CPU buffers) only delay an expiry.
    for (const [key, p] of this.pending) {
      if (nowNs - p.sentNs < this.timeoutNs) break;
      this.pending.delete(key);
      n++;
    }
    this.stats.pendingExpired += n;
    return n;
  }

  /** The interval's entries (pending queries stay for the next one); `nowNs` also expires queries. */
  flush(nowNs?: bigint): DnsFlush {
    if (nowNs !== undefined) {
      if (nowNs > this.nowNs) this.nowNs = nowNs;
      this.expire(this.nowNs);
    }
    const entries: DnsLogEntry[] = [];
    for (const { entry, sketch } of this.slots.values()) {
      const latency = sketch.summary();
      if (latency) entry.latency = latency;
      entries.push(entry);
    }
    const out = { entries, unlogged: this.unlogged };
    this.slots = new Map();
    this.unlogged = 0;
    return out;
  }

  private query(o: DnsObservation): void {
    this.stats.queries++;
    const key = matchKey(o);
    if (this.pending.has(key)) {
      this.stats.retransmitted++;
      return;
    }
    while (this.pending.size >= this.maxPending && this.pending.shift()) this.stats.pendingOverflowed++;
    this.pending.set(key, { sentNs: o.timeNs });
  }

  private response(o: DnsObservation): void {
    this.stats.responses++;
    const key = matchKey(o);
    const query = this.pending.get(key);
    let latencyNs: number | undefined;
    if (query) {
      this.pending.delete(key);
      this.stats.matched++;
      // A response stamped before its query (clocks of two CPUs) is matched, not measured.
      if (o.timeNs >= query.sentNs) latencyNs = Number(o.timeNs - query.sentNs);
    } else {
      this.stats.unmatched++;
    }

    const q = o.message.questions[0];
    const rrsets = rrsetsOf(o.message.answers);
    const slotKey = JSON.stringify([o.processKey, o.proto, o.clientIp, o.serverIp, o.serverPort, o.resolver ?? '', q?.name ?? '', q?.class ?? 0, q?.type ?? 0, o.message.rcode, rrsets]);
    let slot = this.slots.get(slotKey);
    if (!slot) {
      if (this.slots.size >= this.maxEntries) {
        this.unlogged++;
        return;
      }
      slot = {
        entry: {
          processKey: o.processKey,
          proto: o.proto,
          clientIp: o.clientIp,
          serverIp: o.serverIp,
          serverPort: o.serverPort,
          ...(o.resolver ? { resolver: o.resolver } : {}),
          qname: q?.name ?? '',
          qtype: q?.type ?? 0,
          qclass: q?.class ?? 0,
          rcode: o.message.rcode,
          rrsets,
          count: 0,
          firstNs: o.timeNs,
          lastNs: o.timeNs,
        },
        sketch: new LatencySketch(),
      };
      this.slots.set(slotKey, slot);
    }
    const e = slot.entry;
    e.count++;
    if (o.timeNs < e.firstNs) e.firstNs = o.timeNs;
    if (o.timeNs > e.lastNs) e.lastNs = o.timeNs;
    if (latencyNs !== undefined) slot.sketch.add(latencyNs);
  }
}

function matchKey(o: DnsObservation): string {
  return `${o.proto}|${o.clientIp}|${o.clientPort}|${o.serverIp}|${o.serverPort}|${o.connection ?? ''}|${o.message.id}|${o.message.questions[0]?.name ?? ''}`;
}

/** The answers grouped into rrsets, each one's data sorted and deduplicated, the sets sorted. */
export function rrsetsOf(answers: readonly DnsRecord[]): DnsRRSet[] {
  const sets = new Map<string, DnsRRSet>();
  for (const r of answers) {
    const key = `${r.name}\u0000${r.type}\u0000${r.class}`;
    let set = sets.get(key);
    if (!set) sets.set(key, (set = { name: r.name, type: r.type, class: r.class, rdata: [] }));
    if (r.data !== undefined && !set.rdata.includes(r.data)) set.rdata.push(r.data);
  }
  const out = [...sets.values()];
  for (const s of out) s.rdata.sort();
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.type - b.type || a.class - b.class));
}

/** Buckets per power of two. */
const SUB_BUCKETS = 8;

/**
 * Latency values (ns) in logarithmic buckets: value v >= 1 falls in bucket
 * floor(log2 v) * 8 + floor((v / 2^floor(log2 v) - 1) * 8), and 0 in its own bucket. A
 * percentile is the nearest-rank bucket's geometric middle, clamped to [min, max].
 */
export class LatencySketch {
  private readonly buckets = new Map<number, number>();
  private count = 0;
  private sum = 0;
  private min = Infinity;
  private max = -Infinity;

  add(ns: number): void {
    if (!Number.isFinite(ns) || ns < 0) return;
    this.count++;
    this.sum += ns;
    if (ns < this.min) this.min = ns;
    if (ns > this.max) this.max = ns;
    const b = bucketOf(ns);
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
  }

  /** The value at fraction `p` (0..1) of the sorted values, within the bucket error. */
  quantile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(p * this.count));
    let seen = 0;
    for (const b of [...this.buckets.keys()].sort((x, y) => x - y)) {
      seen += this.buckets.get(b)!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketMiddle(b)));
    }
    return this.max;
  }

  summary(): LatencySummary | undefined {
    if (this.count === 0) return undefined;
    return {
      count: this.count,
      min: this.min,
      max: this.max,
      mean: this.sum / this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
    };
  }
}

function bucketOf(v: number): number {
  if (v < 1) return -1;
  const e = Math.floor(Math.log2(v));
  const sub = Math.min(SUB_BUCKETS - 1, Math.floor((v / 2 ** e - 1) * SUB_BUCKETS));
  return e * SUB_BUCKETS + sub;
}

function bucketMiddle(b: number): number {
  if (b < 0) return 0;
  const e = Math.floor(b / SUB_BUCKETS);
  const sub = b % SUB_BUCKETS;
  return 2 ** e * Math.sqrt((1 + sub / SUB_BUCKETS) * (1 + (sub + 1) / SUB_BUCKETS));
}
