// A DNS message parser for bytes taken off the wire by the kernel (RFC 1035 section 4, AAAA from
// RFC 3596, the EDNS0 OPT pseudo-record from RFC 6891). The bytes come from any process on the
// node, or from any server it talks to, so they are treated as hostile:
//   - every read is checked against the buffer; nothing here throws on any input;
//   - compression pointers are followed only backwards: each jump must land before the start of
//     the run of labels it leaves, so jump targets strictly decrease and no loop is possible;
//     labels plus jumps share a budget of 128, and a name is at most 255 bytes uncompressed;
//   - at most 64 questions, 256 answers and 64 records in each of the other two sections are
//     decoded, whatever the header claims.
// A broken header or question section makes the message unusable ({ ok: false, reason }). A
// broken record section keeps what was decoded before it, with `partial` and `partialReason`.
//
// Names are printed as dig prints them, lowercased and without the trailing dot: a dot or
// backslash inside a label is escaped (`\.`, `\\`), as are the characters that are special in
// zone files, and bytes outside printable ASCII become `\DDD` (decimal). So a label such as
// "a.b" cannot pass for two labels, and a name string stands for exactly one wire name.

import { flatString } from '../../common/flat-string.js';

/** TCP DNS messages carry a 16-bit length: no message is longer. */
export const MAX_MESSAGE_BYTES = 65_535;
export const MAX_QUESTIONS = 64;
export const MAX_ANSWERS = 256;
/** For the authority and additional sections, each. */
export const MAX_OTHER_RECORDS = 64;
/** Labels and compression jumps together, per name. */
export const MAX_NAME_STEPS = 128;
/** RFC 1035 section 3.1: a name's wire form, uncompressed, length bytes and root included. */
export const MAX_NAME_WIRE_BYTES = 255;

const HEADER_BYTES = 12;
const TYPE_OPT = 41;
const TYPE_A = 1;
const TYPE_NS = 2;
const TYPE_CNAME = 5;
const TYPE_PTR = 12;
const TYPE_AAAA = 28;

export type DnsParseFailure =
  /** The input is longer than any DNS message can be. */
  | 'too_large'
  /** A read would pass the end of the message (or of a record's data). */
  | 'truncated'
  /** A compression pointer that does not point strictly before the labels it leaves, or a name that spends its 128 steps. */
  | 'pointer_loop'
  /** A compression pointer ahead of itself or into the 12-byte header. */
  | 'bad_pointer'
  /** A length byte of 64 to 191: a label over 63 bytes, or the obsolete extended label types (0x40, 0x80). */
  | 'label_too_long'
  /** Over 255 bytes uncompressed. */
  | 'name_too_long'
  /** More records than the limits above; the rest were not decoded. */
  | 'too_many_records'
  /** A name in a record's data that runs past the data's end. */
  | 'bad_rdata';

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  /** Seconds; a value with the top bit set reads as 0 (RFC 2181 section 8). */
  ttl: number;
  /** A and AAAA: the address; CNAME, NS, PTR: the name; absent for other types or data of the wrong size. */
  data?: string;
}

export interface DnsFlags {
  /** Authoritative answer. */
  aa: boolean;
  /** Truncated: the full answer needs TCP. */
  tc: boolean;
  /** Recursion desired. */
  rd: boolean;
  /** Recursion available. */
  ra: boolean;
  /** Authentic data (RFC 4035). */
  ad: boolean;
  /** Checking disabled (RFC 4035). */
  cd: boolean;
}

/** What the OPT pseudo-record says (the first one, if a message carries several). */
export interface DnsEdns {
  udpSize: number;
  version: number;
  /** The DO bit. */
  dnssecOk: boolean;
}

export interface DnsMessage {
  id: number;
  /** True for a response. */
  qr: boolean;
  opcode: number;
  /** The header's 4 bits, with the OPT record's 8 extended bits above them when there is one. */
  rcode: number;
  flags: DnsFlags;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authority: DnsRecord[];
  /** Without the OPT record, which is decoded into `edns`. */
  additional: DnsRecord[];
  /** The section counts the header claims. */
  counts: { questions: number; answers: number; authority: number; additional: number };
  edns?: DnsEdns;
  /** Some records (or questions beyond the limit) were not decoded; `partialReason` says why. */
  partial: boolean;
  partialReason?: DnsParseFailure;
}

export type DnsParseResult = (DnsMessage & { ok: true }) | { ok: false; reason: DnsParseFailure };

/** A failure inside the parser, carried as a value so nothing throws. */
class Fail {
  constructor(readonly reason: DnsParseFailure) {}
}

/** Parses one DNS message: a UDP payload, or a TCP message without its 2-byte length. */
export function parseDnsMessage(buf: Uint8Array): DnsParseResult {
  if (buf.length > MAX_MESSAGE_BYTES) return { ok: false, reason: 'too_large' };
  if (buf.length < HEADER_BYTES) return { ok: false, reason: 'truncated' };
  const flags = u16(buf, 2);
  const counts = { questions: u16(buf, 4), answers: u16(buf, 6), authority: u16(buf, 8), additional: u16(buf, 10) };
  const msg: DnsMessage = {
    id: u16(buf, 0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    flags: {
      aa: (flags & 0x0400) !== 0,
      tc: (flags & 0x0200) !== 0,
      rd: (flags & 0x0100) !== 0,
      ra: (flags & 0x0080) !== 0,
      ad: (flags & 0x0020) !== 0,
      cd: (flags & 0x0010) !== 0,
    },
    questions: [],
    answers: [],
    authority: [],
    additional: [],
    counts,
    partial: false,
  };

  let pos = HEADER_BYTES;
  const nq = Math.min(counts.questions, MAX_QUESTIONS);
  for (let i = 0; i < nq; i++) {
    const name = readName(buf, pos, buf.length);
    if (name instanceof Fail) return { ok: false, reason: name.reason };
    if (name.end + 4 > buf.length) return { ok: false, reason: 'truncated' };
    msg.questions.push({ name: name.text, type: u16(buf, name.end), class: u16(buf, name.end + 2) });
    pos = name.end + 4;
  }
  if (counts.questions > MAX_QUESTIONS) return done(msg, 'too_many_records');

  const sections: [DnsRecord[], number, number][] = [
    [msg.answers, counts.answers, MAX_ANSWERS],
    [msg.authority, counts.authority, MAX_OTHER_RECORDS],
    [msg.additional, counts.additional, MAX_OTHER_RECORDS],
  ];
  for (const [into, claimed, limit] of sections) {
    const n = Math.min(claimed, limit);
    for (let i = 0; i < n; i++) {
      const r = readRecord(buf, pos);
      if (r instanceof Fail) return done(msg, r.reason);
      pos = r.end;
      if (r.record.type === TYPE_OPT && into === msg.additional) {
        if (!msg.edns) {
          // RFC 6891 section 6.1.3: the class is the UDP size, the TTL holds the extended rcode
          // (top 8 bits), the version, and the DO bit.
          const ttl = r.rawTtl;
          msg.rcode = ((ttl >>> 24) << 4) | msg.rcode;
          msg.edns = { udpSize: r.record.class, version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0 };
        }
        continue;
      }
      into.push(r.record);
    }
    if (claimed > limit) return done(msg, 'too_many_records');
  }
  return done(msg);
}

function done(msg: DnsMessage, reason?: DnsParseFailure): DnsMessage & { ok: true } {
  if (reason) {
    msg.partial = true;
    msg.partialReason = reason;
  }
  return { ok: true, ...msg };
}

function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function u32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

interface ReadRecord {
  record: DnsRecord;
  rawTtl: number;
  end: number;
}

function readRecord(buf: Uint8Array, pos: number): ReadRecord | Fail {
  const name = readName(buf, pos, buf.length);
  if (name instanceof Fail) return name;
  const at = name.end;
  if (at + 10 > buf.length) return new Fail('truncated');
  const type = u16(buf, at);
  const rawTtl = u32(buf, at + 4);
  const rdStart = at + 10;
  const rdEnd = rdStart + u16(buf, at + 8);
  if (rdEnd > buf.length) return new Fail('truncated');
  const record: DnsRecord = { name: name.text, type, class: u16(buf, at + 2), ttl: rawTtl > 0x7fffffff ? 0 : rawTtl };
  const len = rdEnd - rdStart;
  if (type === TYPE_A && len === 4) {
    record.data = flatString(`${buf[rdStart]}.${buf[rdStart + 1]}.${buf[rdStart + 2]}.${buf[rdStart + 3]}`);
  } else if (type === TYPE_AAAA && len === 16) {
    record.data = flatString(formatIpv6(buf.subarray(rdStart, rdEnd)));
  } else if (type === TYPE_CNAME || type === TYPE_NS || type === TYPE_PTR) {
    // The name may point back anywhere in the message, but its own bytes must stay in the data.
    const target = readName(buf, rdStart, rdEnd);
    if (target instanceof Fail) return target;
    if (target.end !== rdEnd) return new Fail('bad_rdata');
    record.data = target.text;
  }
  return { record, rawTtl, end: rdEnd };
}

interface ReadName {
  text: string;
  /** Where the name ends in place: after its root byte, or after its first pointer. */
  end: number;
}

/**
 * The name at `start`. `limit` bounds the bytes read in place (a record's data end); bytes
 * reached through pointers are bounded by the message.
 */
function readName(buf: Uint8Array, start: number, limit: number): ReadName | Fail {
  let pos = start;
  let end = -1;
  /** Where the current run of labels began: the next jump must land before it. */
  let runStart = start;
  let steps = 0;
  let wire = 1;
  let text = '';
  for (;;) {
    const bound = end < 0 ? limit : buf.length;
    if (pos >= bound) return new Fail(end < 0 && limit < buf.length ? 'bad_rdata' : 'truncated');
    const len = buf[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if (++steps > MAX_NAME_STEPS) return new Fail('pointer_loop');
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= bound) return new Fail(end < 0 && limit < buf.length ? 'bad_rdata' : 'truncated');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (end < 0) end = pos + 2;
      if (target < HEADER_BYTES) return new Fail('bad_pointer');
      if (target >= runStart) return new Fail(target >= pos ? 'bad_pointer' : 'pointer_loop');
      runStart = target;
      pos = target;
      continue;
    }
    if (len > 63) return new Fail('label_too_long');
    wire += len + 1;
    if (wire > MAX_NAME_WIRE_BYTES) return new Fail('name_too_long');
    if (pos + 1 + len > bound) return new Fail(end < 0 && limit < buf.length ? 'bad_rdata' : 'truncated');
    if (text) text += '.';
    text += labelText(buf, pos + 1, pos + 1 + len);
    pos += 1 + len;
  }
  // Built a character at a time, the text is a deep tree of pieces: one copy makes it the
  // sequential string that DNS logs and flow logs' dest_domains serialise quickly (common/flat-string.ts).
  return { text: text ? flatString(text) : '.', end };
}

/** Characters that dig escapes with a backslash (besides the dot): special in zone files. */
const SPECIAL = new Set([0x22, 0x24, 0x28, 0x29, 0x2e, 0x3b, 0x40, 0x5c]);

function labelText(buf: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) {
    let c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c <= 0x20 || c >= 0x7f) s += '\\' + String(c).padStart(3, '0');
    else if (SPECIAL.has(c)) s += '\\' + String.fromCharCode(c);
    else s += String.fromCharCode(c);
  }
  return s;
}

/**
 * RFC 5952 text of 16 address bytes: lowercase hex, the longest run of two or more zero groups
 * as "::" (the first such run on a tie), and IPv4-mapped addresses as ::ffff:a.b.c.d.
 */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

// ---- Names of the numbers --------------------------------------------------------------------

/**
 * Which spelling: 'rfc' is the IANA mnemonic as dig prints it (NXDOMAIN, TYPE65280,
 * CLASS9); 'calico' is what Calico's DNS logs write (NXDomain, #65280, Any for class 255).
 */
export type DnsNameStyle = 'rfc' | 'calico';

const RCODES: Record<number, [rfc: string, calico: string]> = {
  0: ['NOERROR', 'NoError'],
  1: ['FORMERR', 'FormErr'],
  2: ['SERVFAIL', 'ServFail'],
  3: ['NXDOMAIN', 'NXDomain'],
  4: ['NOTIMP', 'NotImp'],
  5: ['REFUSED', 'Refused'],
  6: ['YXDOMAIN', 'YXDomain'],
  7: ['YXRRSET', 'YXRRSet'],
  8: ['NXRRSET', 'NXRRSet'],
  9: ['NOTAUTH', 'NotAuth'],
  10: ['NOTZONE', 'NotZone'],
  11: ['DSOTYPENI', 'DSOTYPENI'],
  // 16 is BADVERS with EDNS and BADSIG with TSIG; a 12-bit rcode only exists with an OPT record.
  16: ['BADVERS', 'BADSIG'],
  17: ['BADKEY', 'BADKEY'],
  18: ['BADTIME', 'BADTIME'],
  19: ['BADMODE', 'BADMODE'],
  20: ['BADNAME', 'BADNAME'],
  21: ['BADALG', 'BADALG'],
  22: ['BADTRUNC', 'BADTRUNC'],
  23: ['BADCOOKIE', 'BADCOOKIE'],
};

/** The IANA resource record types; those Calico's logs also spell out are marked. */
/**
 * Not a DNS type: a lookup of every address of a name (getaddrinfo through nscd, or
 * systemd-resolved's ResolveHostname without a family), which asks for A and AAAA at once.
 * Outside the 16-bit range, so no wire type can be mistaken for it.
 */
export const QTYPE_ADDRESSES = 0x10000;

const TYPES: Record<number, [name: string, calico: boolean]> = {
  [QTYPE_ADDRESSES]: ['A+AAAA', true],
  1: ['A', true], 2: ['NS', true], 3: ['MD', true], 4: ['MF', true], 5: ['CNAME', true], 6: ['SOA', true],
  7: ['MB', true], 8: ['MG', true], 9: ['MR', true], 10: ['NULL', true], 11: ['WKS', true], 12: ['PTR', true],
  13: ['HINFO', true], 14: ['MINFO', true], 15: ['MX', true], 16: ['TXT', true], 17: ['RP', false],
  18: ['AFSDB', false], 24: ['SIG', false], 25: ['KEY', false], 28: ['AAAA', true], 29: ['LOC', false],
  33: ['SRV', true], 35: ['NAPTR', false], 36: ['KX', false], 37: ['CERT', false], 39: ['DNAME', false],
  41: ['OPT', true], 42: ['APL', false], 43: ['DS', false], 44: ['SSHFP', false], 45: ['IPSECKEY', false],
  46: ['RRSIG', true], 47: ['NSEC', false], 48: ['DNSKEY', true], 49: ['DHCID', false], 50: ['NSEC3', false],
  51: ['NSEC3PARAM', false], 52: ['TLSA', false], 53: ['SMIMEA', false], 55: ['HIP', false], 59: ['CDS', false],
  60: ['CDNSKEY', false], 61: ['OPENPGPKEY', false], 62: ['CSYNC', false], 63: ['ZONEMD', false],
  64: ['SVCB', true], 65: ['HTTPS', true], 99: ['SPF', false], 249: ['TKEY', false], 250: ['TSIG', false],
  251: ['IXFR', false], 252: ['AXFR', false], 253: ['MAILB', false], 254: ['MAILA', false], 255: ['ANY', false],
  256: ['URI', true], 257: ['CAA', false],
};

const CLASSES: Record<number, [rfc: string, calico: string | undefined]> = {
  1: ['IN', 'IN'],
  2: ['CS', 'CS'],
  3: ['CH', 'CH'],
  4: ['HS', 'HS'],
  254: ['NONE', undefined],
  255: ['ANY', 'Any'],
};

/** A response code (the full 12-bit value) by name: NOERROR, NXDOMAIN, ...; RCODE12 or #12 when unassigned. */
export function rcodeName(rcode: number, style: DnsNameStyle = 'rfc'): string {
  const known = RCODES[rcode];
  if (style === 'calico') return known?.[1] ?? `#${rcode}`;
  return known?.[0] ?? `RCODE${rcode}`;
}

/** A question or record type by name: A, AAAA, HTTPS, ...; TYPE65280 (RFC 3597) or #65280 when not known. */
export function qtypeName(type: number, style: DnsNameStyle = 'rfc'): string {
  const known = TYPES[type];
  if (style === 'calico') return known?.[1] ? known[0] : `#${type}`;
  return known?.[0] ?? `TYPE${type}`;
}

/** A class by name: IN, CH, HS, ANY, ...; CLASS9 (RFC 3597) or #9 when not known. */
export function qclassName(cls: number, style: DnsNameStyle = 'rfc'): string {
  const known = CLASSES[cls];
  if (style === 'calico') return known?.[1] ?? `#${cls}`;
  return known?.[0] ?? `CLASS${cls}`;
}

export const OPCODE_NAMES: Record<number, string> = { 0: 'QUERY', 1: 'IQUERY', 2: 'STATUS', 4: 'NOTIFY', 5: 'UPDATE', 6: 'DSO' };
