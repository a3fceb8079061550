// Lookups that glibc hands to a local resolver over its unix socket instead of sending DNS
// packets: nscd's binary protocol, and systemd-resolved's varlink service (io.systemd.Resolve,
// NUL-ended JSON) that nss-resolve speaks. The kernel copies what the asking process wrote to
// and read from such a socket (bpf/lib/dns-local.h); this joins those bytes per connection and
// direction, pairs each request with its reply, and hands both on shaped as DNS messages, so the
// name cache and the DNS logs take them as they take packets.
//
// The bytes come from any process that connects to those paths, so the rules of message.ts hold:
// every length is checked against a bound, nothing throws, and a connection whose bytes do not
// parse is dropped and counted. Only the first buffer of a scattered read is captured, so an nscd
// gethostbyname reply (read with readv) yields its name and response code, without addresses.
import type { DnsEvent } from '../../native/types.js';
import { formatIpv6, QTYPE_ADDRESSES, type DnsMessage, type DnsRecord } from './message.js';

export type LocalProtocol = 'nscd' | 'varlink';

/** One request or reply, as a DNS message; `id` numbers the requests of one connection. */
export interface LocalMessage {
  event: DnsEvent;
  message: DnsMessage;
}

export interface LocalResolverStats {
  /** Requests for host names or addresses. */
  queries: number;
  /** Replies paired with their request. */
  responses: number;
  /** Connections whose bytes did not parse (or grew past the bound), dropped. */
  malformed: number;
  /** Replies whose bytes the capture cut (decoded as far as they go). */
  cut: number;
}

const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_PTR = 12;
const TYPE_AAAA = 28;
const RCODE_NOERROR = 0;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
const AF_INET = 2;
const AF_INET6 = 10;

/** Bytes kept per connection and direction; a request or reply is far smaller. */
const STREAM_MAX = 16 * 1024;
const NAME_MAX = 1025;
const ADDRESSES_MAX = 256;

/** glibc nscd/nscd-client.h: the protocol version and the request types for hosts. */
const NSCD_VERSION = 2;
const NSCD = { GETHOSTBYNAME: 4, GETHOSTBYNAMEv6: 5, GETHOSTBYADDR: 6, GETHOSTBYADDRv6: 7, GETAI: 14 } as const;
const NSCD_REQUEST_HEADER = 12;
const NSCD_AI_HEADER = 24;
const NSCD_HST_HEADER = 32;

/** A request's question; OTHER for requests not about hosts (their replies are skipped), BAD when it does not parse. */
interface Question {
  name: string;
  type: number;
  /** nscd: the request type, which says how its reply is laid out. */
  nscdType?: number;
}

const OTHER = 'other';
const BAD = 'bad';
type Asked = Question | typeof OTHER | typeof BAD;

interface Answer {
  rcode: number;
  records: DnsRecord[];
  cut: boolean;
}

interface Connection {
  protocol: LocalProtocol;
  out: Buffer;
  in: Buffer;
  /** Requests sent and not answered yet, oldest first. */
  asked: { id: number; question: Question | typeof OTHER }[];
  nextId: number;
  lastNs: bigint;
  /** Bytes were lost on the way in: the reply parses as far as it goes, then the connection ends. */
  inCut: boolean;
}

export class LocalResolverStreams {
  private readonly connections = new Map<bigint, Connection>();
  readonly stats: LocalResolverStats = { queries: 0, responses: 0, malformed: 0, cut: 0 };

  constructor(private readonly maxConnections = 1024) {}

  take(ev: DnsEvent, protocol: LocalProtocol): LocalMessage[] {
    let c = this.connections.get(ev.cookie);
    if (!c) {
      if (ev.direction === 'response') return [];
      this.makeRoom();
      c = { protocol, out: Buffer.alloc(0), in: Buffer.alloc(0), asked: [], nextId: 1, lastNs: ev.timeNs, inCut: false };
      this.connections.set(ev.cookie, c);
    }
    c.lastNs = ev.timeNs;
    const cut = ev.wireLength > ev.payload.length;
    const out: LocalMessage[] = [];
    if (ev.direction === 'query') {
      // nscd serves one request per connection: a request after one means a new connection.
      if (protocol === 'nscd' && c.asked.length > 0) {
        c.asked = [];
        c.out = Buffer.alloc(0);
        c.in = Buffer.alloc(0);
      }
      // A request must arrive whole to be read.
      if (cut) return this.drop(ev.cookie), [];
      c.out = Buffer.concat([c.out, ev.payload]);
      const questions = protocol === 'nscd' ? takeNscdRequests(c) : takeVarlinkRequests(c).map(varlinkQuestion);
      if (questions.includes(BAD)) return this.drop(ev.cookie), [];
      for (const q of questions) {
        const id = c.nextId++ & 0xffff;
        c.asked.push({ id, question: q as Question | typeof OTHER });
        if (c.asked.length > 8) c.asked.shift();
        if (q === OTHER) continue;
        this.stats.queries++;
        out.push({ event: ev, message: dnsMessage(id, false, q as Question, { rcode: 0, records: [], cut: false }) });
      }
    } else {
      if (cut) (c.inCut = true), this.stats.cut++;
      c.in = Buffer.concat([c.in, ev.payload]);
      for (;;) {
        const asked = c.asked[0];
        if (!asked) {
          // A reply nobody was seen asking for (the request predates the agent): let it go.
          c.in = Buffer.alloc(0);
          break;
        }
        const q = asked.question;
        if (protocol === 'nscd' && q === OTHER) {
          // nscd answers one request per connection: nothing about hosts will follow.
          c.in = Buffer.alloc(0);
          c.asked.length = 0;
          break;
        }
        const answer = protocol === 'nscd' ? takeNscdReply(c, q as Question) : takeVarlinkReply(c, q);
        if (answer === null) return this.drop(ev.cookie), out;
        if (answer === undefined) break;
        c.asked.shift();
        if (q === OTHER) continue;
        this.stats.responses++;
        out.push({ event: ev, message: dnsMessage(asked.id, true, q, answer) });
      }
      // nscd serves one request per connection, and a socket's cookie can come back with the next one.
      if (c.inCut || (protocol === 'nscd' && c.asked.length === 0 && c.out.length === 0)) this.connections.delete(ev.cookie);
    }
    if (c.out.length > STREAM_MAX || c.in.length > STREAM_MAX) this.drop(ev.cookie);
    return out;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  private drop(cookie: bigint): void {
    if (this.connections.delete(cookie)) this.stats.malformed++;
  }

  /** The connection idle the longest gives way (nscd opens one per request and the kernel never says it closed). */
  private makeRoom(): void {
    if (this.connections.size < this.maxConnections) return;
    let oldest: bigint | undefined;
    let at = -1n;
    for (const [k, v] of this.connections) if (at < 0n || v.lastNs < at) (oldest = k), (at = v.lastNs);
    if (oldest !== undefined) this.connections.delete(oldest);
  }
}

function dnsMessage(id: number, qr: boolean, q: Question, a: Answer): DnsMessage {
  return {
    id,
    qr,
    opcode: 0,
    rcode: a.rcode,
    flags: { aa: false, tc: false, rd: true, ra: qr, ad: false, cd: false },
    questions: [{ name: q.name, type: q.type, class: 1 }],
    answers: a.records,
    authority: [],
    additional: [],
    counts: { questions: 1, answers: a.records.length, authority: 0, additional: 0 },
    partial: a.cut,
    ...(a.cut ? { partialReason: 'truncated' as const } : {}),
  };
}

// ---- nscd ------------------------------------------------------------------------------------

/** The requests in the bytes sent so far (a request not yet whole waits). */
function takeNscdRequests(c: Connection): Asked[] {
  const out: Asked[] = [];
  while (c.out.length >= NSCD_REQUEST_HEADER) {
    const version = c.out.readInt32LE(0);
    const type = c.out.readInt32LE(4);
    const keyLen = c.out.readInt32LE(8);
    if (version !== NSCD_VERSION || keyLen < 0 || keyLen > NAME_MAX) return [BAD];
    if (!Object.values(NSCD).includes(type as never)) {
      // passwd, group, services, a shared-memory map: nothing about hosts on this connection.
      c.out = Buffer.alloc(0);
      out.push(OTHER);
      break;
    }
    if (c.out.length < NSCD_REQUEST_HEADER + keyLen) break;
    const key = c.out.subarray(NSCD_REQUEST_HEADER, NSCD_REQUEST_HEADER + keyLen);
    c.out = c.out.subarray(NSCD_REQUEST_HEADER + keyLen);
    out.push(nscdQuestion(type, key));
  }
  return out;
}

function nscdQuestion(type: number, key: Buffer): Asked {
  if (type === NSCD.GETHOSTBYADDR || type === NSCD.GETHOSTBYADDRv6) {
    const name = reverseName(key);
    return name ? { name, type: TYPE_PTR, nscdType: type } : BAD;
  }
  const name = hostName(untilNul(key));
  if (name === undefined) return BAD;
  const qtype = type === NSCD.GETHOSTBYNAME ? TYPE_A : type === NSCD.GETHOSTBYNAMEv6 ? TYPE_AAAA : QTYPE_ADDRESSES;
  return { name, type: qtype, nscdType: type };
}

/** h_errno (netdb.h) of a "not found" reply as a response code. */
function nscdRcode(found: number, herrno: number): number | undefined {
  if (found === 1) return RCODE_NOERROR;
  if (found !== 0) return undefined; // -1: nscd does not serve hosts; the caller resolves by itself
  if (herrno === 1) return RCODE_NXDOMAIN; // HOST_NOT_FOUND
  if (herrno === 4) return RCODE_NOERROR; // NO_DATA: the name exists without such records
  return RCODE_SERVFAIL; // TRY_AGAIN, NO_RECOVERY
}

/** The reply to `q` when all of it is in; undefined to wait for more; null when it does not parse. */
function takeNscdReply(c: Connection, q: Question): Answer | undefined | null {
  const b = c.in;
  const ai = q.nscdType === NSCD.GETAI;
  const headerLen = ai ? NSCD_AI_HEADER : NSCD_HST_HEADER;
  if (b.length < headerLen) return c.inCut ? null : undefined;
  const i32 = (k: number) => b.readInt32LE(4 * k);
  if (i32(0) !== NSCD_VERSION) return null;
  const found = i32(1);
  const herrno = ai ? i32(5) : i32(7);
  const rcode = nscdRcode(found, herrno);
  if (rcode === undefined) {
    c.in = Buffer.alloc(0);
    c.asked.length = 0;
    return undefined;
  }
  if (found !== 1) return (c.in = b.subarray(headerLen)), { rcode, records: [], cut: false };
  return ai ? nscdAiBody(c, q, rcode) : nscdHostBody(c, q, rcode);
}

/** GETAI: addresses back to back, one family byte each, then the canonical name. */
function nscdAiBody(c: Connection, q: Question, rcode: number): Answer | undefined | null {
  const b = c.in;
  const naddrs = b.readInt32LE(8);
  const addrsLen = b.readInt32LE(12);
  const canonLen = b.readInt32LE(16);
  if (naddrs < 0 || naddrs > ADDRESSES_MAX || addrsLen < 0 || addrsLen > 16 * ADDRESSES_MAX || canonLen < 0 || canonLen > NAME_MAX) return null;
  const end = NSCD_AI_HEADER + addrsLen + naddrs + canonLen;
  if (b.length < end && !c.inCut) return undefined;
  const body = b.subarray(NSCD_AI_HEADER, Math.min(end, b.length));
  const families = body.subarray(addrsLen, addrsLen + naddrs);
  const canonBytes = body.subarray(addrsLen + naddrs, addrsLen + naddrs + canonLen);
  const canon = canonBytes.length === canonLen && canonLen > 0 ? hostName(untilNul(canonBytes)) : undefined;
  const owner = canon ?? q.name;
  const records: DnsRecord[] = canon && canon !== q.name ? [record(q.name, TYPE_CNAME, canon)] : [];
  // A cut reply may lack the family bytes; a list of one family is still plain from its length.
  const sameSize = addrsLen === 4 * naddrs ? 4 : addrsLen === 16 * naddrs ? 16 : 0;
  const sizeOf = (i: number) => (i < families.length ? (families[i] === AF_INET ? 4 : families[i] === AF_INET6 ? 16 : 0) : sameSize);
  let at = 0;
  for (let i = 0; i < naddrs; i++) {
    const size = sizeOf(i);
    if (!size && i >= families.length) break;
    if (!size || at + size > addrsLen) return null;
    if (at + size > body.length) break;
    records.push(record(owner, size === 4 ? TYPE_A : TYPE_AAAA, formatIp(body.subarray(at, at + size))));
    at += size;
  }
  c.in = b.subarray(Math.min(end, b.length));
  return { rcode, records, cut: b.length < end };
}

/** GETHOSTBY*: the name, alias lengths, addresses, aliases. */
function nscdHostBody(c: Connection, q: Question, rcode: number): Answer | undefined | null {
  const b = c.in;
  const nameLen = b.readInt32LE(8);
  const aliases = b.readInt32LE(12);
  const addrLen = b.readInt32LE(20);
  const addrs = b.readInt32LE(24);
  if (nameLen < 0 || nameLen > NAME_MAX || aliases < 0 || aliases > ADDRESSES_MAX || (addrLen !== 4 && addrLen !== 16) || addrs < 0 || addrs > ADDRESSES_MAX) return null;
  const addrAt = NSCD_HST_HEADER + nameLen + 4 * aliases;
  const end = addrAt + addrs * addrLen; // alias names follow; nobody needs them here
  if (b.length < end && !c.inCut) return undefined;
  const nameBytes = b.subarray(NSCD_HST_HEADER, NSCD_HST_HEADER + nameLen);
  const name = nameBytes.length === nameLen ? hostName(untilNul(nameBytes)) : undefined;
  const records: DnsRecord[] = [];
  if (q.type === TYPE_PTR) {
    if (name) records.push(record(q.name, TYPE_PTR, name));
  } else {
    const owner = name ?? q.name;
    if (name && name !== q.name) records.push(record(q.name, TYPE_CNAME, name));
    for (let i = 0; i < addrs && addrAt + (i + 1) * addrLen <= b.length; i++) {
      records.push(record(owner, addrLen === 4 ? TYPE_A : TYPE_AAAA, formatIp(b.subarray(addrAt + i * addrLen, addrAt + (i + 1) * addrLen))));
    }
  }
  // The alias names are never waited for: the connection ends with this reply.
  c.in = Buffer.alloc(0);
  return { rcode, records, cut: b.length < end };
}

// ---- varlink ---------------------------------------------------------------------------------

/** Whole NUL-ended JSON requests sent so far, parsed (undefined for one that is not JSON). */
function takeVarlinkRequests(c: Connection): unknown[] {
  const out: unknown[] = [];
  for (;;) {
    const b = c.out;
    const nul = b.indexOf(0);
    if (nul < 0) break;
    c.out = b.subarray(nul + 1);
    try {
      out.push(JSON.parse(b.toString('utf8', 0, nul)));
    } catch {
      out.push(undefined);
    }
  }
  return out;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** A request as a question: ResolveHostname and ResolveAddress are about hosts, other methods are not. */
function varlinkQuestion(m: unknown): Asked {
  const msg = obj(m);
  if (!msg) return BAD;
  const p = obj(msg.parameters) ?? {};
  if (msg.method === 'io.systemd.Resolve.ResolveHostname') {
    const name = typeof p.name === 'string' ? hostName(Buffer.from(p.name, 'utf8')) : undefined;
    if (name === undefined) return BAD;
    return { name, type: p.family === AF_INET ? TYPE_A : p.family === AF_INET6 ? TYPE_AAAA : QTYPE_ADDRESSES };
  }
  if (msg.method === 'io.systemd.Resolve.ResolveAddress') {
    const addr = byteArray(p.address);
    const name = addr ? reverseName(addr) : undefined;
    return name ? { name, type: TYPE_PTR } : BAD;
  }
  return OTHER;
}

/** systemd-resolved's errors (src/resolve/resolved-varlink.c) as response codes. */
function varlinkRcode(error: string, p: Record<string, unknown>): number {
  if (error === 'io.systemd.Resolve.DNSError' && typeof p.rcode === 'number' && Number.isInteger(p.rcode) && p.rcode >= 0 && p.rcode < 4096) return p.rcode;
  if (error === 'io.systemd.Resolve.NoSuchResourceRecord') return RCODE_NOERROR;
  return RCODE_SERVFAIL;
}

/** The reply to `q` when all of it is in; undefined to wait for more; null when it does not parse. */
function takeVarlinkReply(c: Connection, q: Question | typeof OTHER): Answer | undefined | null {
  const nul = c.in.indexOf(0);
  if (nul < 0) return c.inCut ? null : undefined;
  let m: unknown;
  try {
    m = JSON.parse(c.in.toString('utf8', 0, nul));
  } catch {
    return null;
  }
  c.in = c.in.subarray(nul + 1);
  const msg = obj(m);
  if (!msg) return null;
  const p = obj(msg.parameters) ?? {};
  if (typeof msg.error === 'string') return { rcode: varlinkRcode(msg.error, p), records: [], cut: false };
  const records: DnsRecord[] = [];
  if (q === OTHER) return { rcode: RCODE_NOERROR, records, cut: false };
  if (q.type === TYPE_PTR) {
    for (const n of Array.isArray(p.names) ? p.names.slice(0, ADDRESSES_MAX) : []) {
      const text = obj(n)?.name;
      const name = typeof text === 'string' ? hostName(Buffer.from(text, 'utf8')) : undefined;
      if (name) records.push(record(q.name, TYPE_PTR, name));
    }
  } else {
    const canon = typeof p.name === 'string' ? hostName(Buffer.from(p.name, 'utf8')) : undefined;
    const owner = canon ?? q.name;
    if (canon && canon !== q.name) records.push(record(q.name, TYPE_CNAME, canon));
    for (const a of Array.isArray(p.addresses) ? p.addresses.slice(0, ADDRESSES_MAX) : []) {
      const bytes = byteArray(obj(a)?.address);
      if (bytes && (bytes.length === 4 || bytes.length === 16)) records.push(record(owner, bytes.length === 4 ? TYPE_A : TYPE_AAAA, formatIp(bytes)));
    }
  }
  return { rcode: RCODE_NOERROR, records, cut: false };
}

function byteArray(v: unknown): Buffer | undefined {
  if (!Array.isArray(v) || v.length > 16 || !v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) return undefined;
  return Buffer.from(v as number[]);
}

// ---- names and addresses ---------------------------------------------------------------------

/** A host name as DNS logs print it: lower case, no final dot; undefined when it is not one. */
function hostName(bytes: Buffer): string | undefined {
  if (bytes.length === 0 || bytes.length > 253 + 1) return undefined;
  let s = bytes.toString('latin1').toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  // Printable ASCII without spaces, as message.ts prints names; anything else is escaped as \DDD.
  return s.replace(/[^\x21-\x7e]|\\/g, (ch) => (ch === '\\' ? '\\\\' : `\\${ch.charCodeAt(0).toString().padStart(3, '0')}`));
}

function reverseName(addr: Buffer): string | undefined {
  if (addr.length === 4) return `${[...addr].reverse().join('.')}.in-addr.arpa`;
  if (addr.length === 16) {
    const nibbles: string[] = [];
    for (const byte of addr) nibbles.push((byte >> 4).toString(16), (byte & 15).toString(16));
    return `${nibbles.reverse().join('.')}.ip6.arpa`;
  }
  return undefined;
}

const untilNul = (b: Buffer): Buffer => (b.indexOf(0) >= 0 ? b.subarray(0, b.indexOf(0)) : b);

const formatIp = (b: Buffer): string => (b.length === 4 ? [...b].join('.') : formatIpv6(b));

/** TTL 0: the name cache keeps such an answer for its floor (dns_min_ttl); a local resolver does not say. */
const record = (name: string, type: number, data: string): DnsRecord => ({ name, type, class: 1, ttl: 0, data });
