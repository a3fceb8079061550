// The node's memory of which names led to which addresses, learnt from the DNS responses its
// processes received, so a flow to 1.2.3.4 can say it was for www.example.com (Calico's
// dest_domains). A response's A and AAAA answers are followed back through its CNAME chain to
// the question: `www.example.com CNAME edge.cdn.net` plus `edge.cdn.net A 1.2.3.4` maps 1.2.3.4
// to [www.example.com, edge.cdn.net], the queried name first.
//
// Only answers reached from a question are learnt: an address record for a name nobody asked
// about (or one behind a chain cut short) is counted in `unrelated` and ignored, so a response
// cannot label an address with a name of its choosing that the client never looked up.
//
// Bounds, whatever the responses say: a chain is followed at most MAX_CHAIN_DEPTH CNAMEs deep
// (deeper, or back to a name already in it, is cut and counted); an address keeps at most
// `maxNamesPerAddress` names (the most recently learnt win); at most `maxEntries` addresses are
// kept, the least recently used (learnt or looked up) going first. A name's lifetime is the
// smallest TTL along its path to the address, clamped to [minTtlMs, maxTtlMs], against the
// injected clock. Expired names are dropped when they are met and by sweep().
import { formatIpv6, type DnsMessage } from './message.js';
import { OrderedMap } from '../../common/ordered-map.js';

/** CNAMEs followed from a question before the chain is cut. */
export const MAX_CHAIN_DEPTH = 16;

const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;
const CLASS_IN = 1;

/** The settings among these carry their names in agent/config.ts, and no defaults here. */
export interface NameCacheOptions {
  /** Addresses remembered at most (at least 1). */
  dns_cache_max_entries: number;
  /** Names remembered per address at most (at least 1). */
  dns_names_per_address: number;
  /** A name is remembered at least this long, however short its TTL (ms). */
  dns_min_ttl: number;
  /** And at most this long, however long its TTL (ms). */
  dns_max_ttl: number;
  /** The clock the TTLs run against (ms). */
  now: () => number;
}

export interface NameCacheStats {
  /** Addresses remembered now (some may have expired and not yet been swept). */
  entries: number;
  /** Addresses first learnt (an address learnt again after it was dropped counts again). */
  inserts: number;
  /** Responses that renewed or added names of an address already known. */
  updates: number;
  evictions: { expired: number; capacity: number };
  /** Names an address lost to `maxNamesPerAddress`. */
  namesDropped: number;
  /** CNAME chains cut at MAX_CHAIN_DEPTH or at a loop. */
  chainsCut: number;
  /** Address answers not reached from any question, ignored. */
  unrelated: number;
  lookups: number;
  /** Lookups that returned at least one name. */
  hits: number;
}

interface Entry {
  /** Name -> expiry (ms), in the order they are reported: the most recent response's chain first. */
  names: Map<string, number>;
}

export class DnsNameCache {
  /** Address -> names, least recently used first. */
  private readonly entries = new OrderedMap<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxNames: number;
  private readonly counters: Omit<NameCacheStats, 'entries'> = {
    inserts: 0,
    updates: 0,
    evictions: { expired: 0, capacity: 0 },
    namesDropped: 0,
    chainsCut: 0,
    unrelated: 0,
    lookups: 0,
    hits: 0,
  };

  constructor(private readonly opts: NameCacheOptions) {
    this.maxEntries = Math.max(1, Math.floor(opts.dns_cache_max_entries));
    this.maxNames = Math.max(1, Math.floor(opts.dns_names_per_address));
  }

  /** Addresses remembered now (some may have expired and not yet been swept). */
  get size(): number {
    return this.entries.size;
  }

  /** A snapshot of the counters, with the current number of entries. */
  get stats(): NameCacheStats {
    return { ...this.counters, evictions: { ...this.counters.evictions }, entries: this.entries.size };
  }

  /** Learns the addresses of one response; returns how many addresses it named. Queries are ignored. */
  learn(msg: DnsMessage): number {
    if (!msg.qr || msg.questions.length === 0) return 0;
    const now = this.opts.now();
    // Owner -> its CNAME (the first one: a name has at most one) with that record's TTL.
    const cnames = new Map<string, { target: string; ttl: number }>();
    for (const r of msg.answers) {
      if (r.type === TYPE_CNAME && r.class === CLASS_IN && r.data !== undefined && !cnames.has(r.name)) cnames.set(r.name, { target: r.name === r.data ? '' : r.data, ttl: r.ttl });
    }
    // Each name reached from a question -> the chain that reached it (question first), with the
    // smallest TTL of the CNAMEs from each chain name on to it.
    const reached = new Map<string, { chain: string[]; ttls: number[] }>();
    for (const q of msg.questions) {
      if (reached.has(q.name)) continue;
      const chain = [q.name];
      const ttls: number[] = [];
      reached.set(q.name, { chain: [...chain], ttls: [] });
      let cur = q.name;
      for (;;) {
        const next = cnames.get(cur);
        if (!next) break;
        if (chain.length > MAX_CHAIN_DEPTH || next.target === '' || chain.includes(next.target)) {
          this.counters.chainsCut++;
          break;
        }
        chain.push(next.target);
        ttls.push(next.ttl);
        if (!reached.has(next.target)) reached.set(next.target, { chain: [...chain], ttls: [...ttls] });
        cur = next.target;
      }
    }
    let named = 0;
    for (const r of msg.answers) {
      if ((r.type !== TYPE_A && r.type !== TYPE_AAAA) || r.class !== CLASS_IN || r.data === undefined) continue;
      const path = reached.get(r.name);
      const ip = canonicalIp(r.data);
      if (!path || ip === undefined) {
        this.counters.unrelated++;
        continue;
      }
      // The lifetime of chain[i] -> ip: the smallest TTL from chain[i]'s CNAME to the address record.
      const expiries: number[] = new Array<number>(path.chain.length);
      let ttl = r.ttl;
      for (let i = path.chain.length - 1; i >= 0; i--) {
        if (i < path.ttls.length) ttl = Math.min(ttl, path.ttls[i]!);
        expiries[i] = now + this.clampTtl(ttl);
      }
      this.remember(ip, path.chain, expiries, now);
      named++;
    }
    return named;
  }

  /** At most `limit` names that led to `ip`, the most recently learnt chain first, queried name first. */
  domainsFor(ip: string, limit = this.maxNames): string[] {
    this.counters.lookups++;
    const key = canonicalIp(ip);
    const entry = key === undefined ? undefined : this.entries.get(key);
    if (!entry || key === undefined) return [];
    const now = this.opts.now();
    dropExpired(entry, now);
    if (entry.names.size === 0) {
      this.entries.delete(key);
      this.counters.evictions.expired++;
      return [];
    }
    this.entries.set(key, entry); // now the most recently used
    this.counters.hits++;
    const out: string[] = [];
    for (const name of entry.names.keys()) {
      if (out.length >= limit) break;
      out.push(name);
    }
    return out;
  }

  /** Drops every expired name, and addresses left with none; returns how many addresses went. */
  sweep(): number {
    const now = this.opts.now();
    let dropped = 0;
    for (const [ip, entry] of this.entries) {
      dropExpired(entry, now);
      if (entry.names.size === 0) {
        this.entries.delete(ip);
        dropped++;
      }
    }
    this.counters.evictions.expired += dropped;
    return dropped;
  }

  private clampTtl(ttlSeconds: number): number {
    return Math.min(this.opts.dns_max_ttl, Math.max(this.opts.dns_min_ttl, ttlSeconds * 1000));
  }

  private remember(ip: string, chain: string[], expiries: number[], now: number): void {
    const known = this.entries.get(ip);
    const names = new Map<string, number>();
    chain.forEach((name, i) => {
      if (names.size < this.maxNames) names.set(name, Math.max(expiries[i]!, known?.names.get(name) ?? 0));
      else this.counters.namesDropped++;
    });
    if (known) {
      this.entries.delete(ip);
      this.counters.updates++;
      for (const [name, exp] of known.names) {
        if (names.has(name) || exp <= now) continue;
        if (names.size < this.maxNames) names.set(name, exp);
        else this.counters.namesDropped++;
      }
    } else {
      this.counters.inserts++;
      while (this.entries.size >= this.maxEntries) this.evictOldest(now);
    }
    this.entries.set(ip, { names });
  }

  /** Makes room: the least recently used address goes (counted as expired if it had). */
  private evictOldest(now: number): void {
    const oldest = this.entries.shift();
    if (!oldest) return;
    const [, entry] = oldest;
    dropExpired(entry, now);
    if (entry.names.size === 0) this.counters.evictions.expired++;
    else this.counters.evictions.capacity++;
  }
}

function dropExpired(entry: Entry, now: number): void {
  for (const [name, exp] of entry.names) if (exp <= now) entry.names.delete(name);
}

/**
 * An address in one spelling: IPv4 dotted, IPv6 per RFC 5952, and IPv4-mapped IPv6
 * (::ffff:1.2.3.4, ::ffff:102:304) as the IPv4 address. Undefined for anything else.
 */
export function canonicalIp(s: string): string | undefined {
  // Every flow log asks with the kernel's dotted IPv4 text, already in this spelling.
  if (isDottedIpv4(s)) return s;
  if (!s.includes(':')) return parseIpv4(s)?.join('.');
  const groups = parseIpv6(s.toLowerCase());
  if (!groups) return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  const text = formatIpv6(bytes);
  return text.startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text;
}

/** Four decimal bytes without leading zeros: an IPv4 address already in canonical form. */
function isDottedIpv4(s: string): boolean {
  let dots = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return false;
      digits = 0;
      value = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && value === 0) return false;
      value = value * 10 + (c - 0x30);
      if (++digits > 3 || value > 255) return false;
    } else return false;
  }
  return dots === 3 && digits > 0;
}

function parseIpv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out.push(Number(p));
  }
  return out;
}

/** Eight 16-bit groups, or undefined. A dotted IPv4 tail stands for the last two groups. */
function parseIpv6(s: string): number[] | undefined {
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    text = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const read = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = read(halves[0]!);
  const rest = halves.length === 2 ? read(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const given = head.length + rest.length;
  if (halves.length === 1) return given === 8 ? head : undefined;
  if (given > 7) return undefined;
  return [...head, ...new Array<number>(8 - given).fill(0), ...rest];
}
