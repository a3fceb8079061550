// The user-space core of DNS support: the message parser (hand-built messages, hostile ones, a
// seeded fuzz loop, and bytes from a real encoder: c-ares, through node:dns, on loopback), the
// per-node name cache, and the DNS log aggregation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { Resolver } from 'node:dns/promises';
import {
  MAX_ANSWERS,
  MAX_QUESTIONS,
  parseDnsMessage,
  qclassName,
  qtypeName,
  rcodeName,
  type DnsMessage,
  type DnsParseResult,
} from '../../agent/dns/message.js';
import { DnsNameCache, MAX_CHAIN_DEPTH, canonicalIp, type NameCacheOptions } from '../../agent/dns/name-cache.js';
import { DnsAggregator, LatencySketch, rrsetsOf, type DnsObservation } from '../../agent/dns/aggregate.js';
import { dnsLogDocument, parseProcessKey, processKey, type DnsDocumentContext } from '../../agent/dns/documents.js';
import { agentDefaults } from '../../agent/config.js';
import { EndpointNamer } from '../../agent/flows/endpoints.js';
import { ProcessCache } from '../../agent/process/process-cache.js';
import { Redactor } from '../../agent/process/redact.js';
import { execEvent } from '../../agent/synthetic.js';
import { DNS_CONTRACT } from '../../schema/index.js';

// ---- A small encoder for the tests -------------------------------------------------------------

const A = 1, NS = 2, CNAME = 5, SOA = 6, TXT = 16, AAAA = 28, OPT = 41, IN = 1;

/** A name's wire form, uncompressed; `pointer` ends it with a compression pointer instead of the root. */
function wireName(name: string, pointer?: number): Buffer {
  const parts: Buffer[] = [];
  for (const label of name === '' ? [] : name.split('.')) {
    parts.push(Buffer.from([label.length]), Buffer.from(label, 'latin1'));
  }
  parts.push(pointer === undefined ? Buffer.from([0]) : ptr(pointer));
  return Buffer.concat(parts);
}

function ptr(offset: number): Buffer {
  return Buffer.from([0xc0 | (offset >> 8), offset & 0xff]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

interface HeaderOpts {
  id?: number;
  qr?: boolean;
  rd?: boolean;
  ra?: boolean;
  tc?: boolean;
  aa?: boolean;
  rcode?: number;
  qd?: number;
  an?: number;
  ns?: number;
  ar?: number;
}

function header(h: HeaderOpts): Buffer {
  const flags = (h.qr ? 0x8000 : 0) | (h.aa ? 0x0400 : 0) | (h.tc ? 0x0200 : 0) | (h.rd ?? true ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) | (h.rcode ?? 0);
  return Buffer.concat([u16(h.id ?? 0x1234), u16(flags), u16(h.qd ?? 1), u16(h.an ?? 0), u16(h.ns ?? 0), u16(h.ar ?? 0)]);
}

function question(name: Buffer, type = A, cls = IN): Buffer {
  return Buffer.concat([name, u16(type), u16(cls)]);
}

function rr(name: Buffer, type: number, ttl: number, rdata: Buffer, cls = IN): Buffer {
  const t = Buffer.alloc(4);
  t.writeUInt32BE(ttl >>> 0);
  return Buffer.concat([name, u16(type), u16(cls), t, u16(rdata.length), rdata]);
}

const ipv4 = (s: string) => Buffer.from(s.split('.').map(Number));
const ipv6 = (groups: number[]) => Buffer.concat(groups.map(u16));

function ok(r: DnsParseResult): DnsMessage {
  assert.ok(r.ok, `parse failed: ${r.ok ? '' : r.reason}`);
  return r;
}

/** www.example.com A, answered through a CNAME to edge.cdn.net, compressed as a server would. */
function cnameResponse(id = 0x1234): Buffer {
  const head = header({ id, qr: true, ra: true, an: 3 });
  const q = question(wireName('www.example.com'));
  const edgeAt = 12 + q.length + 12; // the CNAME record's name (2) + fixed part (10) precede its data
  return Buffer.concat([
    head,
    q,
    rr(ptr(12), CNAME, 300, wireName('edge.cdn.net')),
    rr(ptr(edgeAt), A, 60, ipv4('1.2.3.4')),
    rr(ptr(edgeAt), A, 60, ipv4('1.2.3.5')),
  ]);
}

function aResponse(name: string, ip: string, ttl = 300, id = 0x1234): Buffer {
  return Buffer.concat([header({ id, qr: true, ra: true, an: 1 }), question(wireName(name)), rr(ptr(12), A, ttl, ipv4(ip))]);
}

// ---- Parser: well-formed messages ---------------------------------------------------------------

test('a query and an A response: header, flags, question and the address', () => {
  const qm = ok(parseDnsMessage(Buffer.concat([header({ id: 0xbeef }), question(wireName('example.com'))])));
  assert.equal(qm.id, 0xbeef);
  assert.equal(qm.qr, false);
  assert.equal(qm.opcode, 0);
  assert.deepEqual(qm.flags, { aa: false, tc: false, rd: true, ra: false, ad: false, cd: false });
  assert.deepEqual(qm.questions, [{ name: 'example.com', type: A, class: IN }]);
  assert.equal(qm.partial, false);

  const m = ok(parseDnsMessage(aResponse('example.com', '93.184.216.34', 3600)));
  assert.equal(m.qr, true);
  assert.equal(m.rcode, 0);
  assert.equal(m.flags.ra, true);
  assert.deepEqual(m.answers, [{ name: 'example.com', type: A, class: IN, ttl: 3600, data: '93.184.216.34' }]);
  assert.deepEqual(m.counts, { questions: 1, answers: 1, authority: 0, additional: 0 });
});

test('AAAA answers are written as RFC 5952 text, v4-mapped ones in dotted form', () => {
  const msg = Buffer.concat([
    header({ qr: true, an: 3 }),
    question(wireName('v6.example'), AAAA),
    rr(ptr(12), AAAA, 30, ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])),
    rr(ptr(12), AAAA, 30, ipv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])),
    rr(ptr(12), AAAA, 30, ipv6([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304])),
  ]);
  const m = ok(parseDnsMessage(msg));
  assert.deepEqual(m.answers.map((a) => a.data), ['2001:db8::1', '2001:db8::1:0:0:1', '::ffff:1.2.3.4']);
  assert.equal(m.questions[0]!.type, AAAA);
});

test('a CNAME chain through compression pointers', () => {
  const m = ok(parseDnsMessage(cnameResponse()));
  assert.deepEqual(
    m.answers.map((a) => [a.name, qtypeName(a.type), a.ttl, a.data]),
    [
      ['www.example.com', 'CNAME', 300, 'edge.cdn.net'],
      ['edge.cdn.net', 'A', 60, '1.2.3.4'],
      ['edge.cdn.net', 'A', 60, '1.2.3.5'],
    ],
  );
});

test('a suffix pointer: a name of its own labels ending in a pointer to an earlier one', () => {
  const msg = Buffer.concat([
    header({ qr: true, an: 1 }),
    question(wireName('example.com')),
    rr(wireName('mail', 12), NS, 60, wireName('ns1', 12)),
  ]);
  const m = ok(parseDnsMessage(msg));
  assert.deepEqual(m.answers[0], { name: 'mail.example.com', type: NS, class: IN, ttl: 60, data: 'ns1.example.com' });
});

test('NXDOMAIN with the SOA in the authority section', () => {
  const soa = Buffer.concat([wireName('ns.example.com'), wireName('admin.example.com'), Buffer.alloc(20, 1)]);
  const msg = Buffer.concat([header({ qr: true, rcode: 3, ns: 1, aa: true }), question(wireName('nope.example.com')), rr(wireName('example.com'), SOA, 900, soa)]);
  const m = ok(parseDnsMessage(msg));
  assert.equal(m.rcode, 3);
  assert.equal(rcodeName(m.rcode), 'NXDOMAIN');
  assert.equal(rcodeName(m.rcode, 'calico'), 'NXDomain');
  assert.equal(m.flags.aa, true);
  assert.deepEqual(m.answers, []);
  assert.deepEqual(m.authority, [{ name: 'example.com', type: SOA, class: IN, ttl: 900 }]);
  assert.equal(m.partial, false);
});

test('EDNS: the OPT record is recognised, skipped, and its extended rcode joins the header rcode', () => {
  // OPT: root name, class = UDP size 1232, TTL = extended rcode 1, version 0, DO set.
  const opt = rr(Buffer.from([0]), OPT, (1 << 24) | 0x8000, Buffer.alloc(0), 1232);
  const msg = Buffer.concat([header({ qr: true, rcode: 0, ar: 2 }), question(wireName('example.com')), opt, rr(wireName('x.example.com'), A, 5, ipv4('10.0.0.1'))]);
  const m = ok(parseDnsMessage(msg));
  assert.equal(m.rcode, 16);
  assert.equal(rcodeName(m.rcode), 'BADVERS');
  assert.deepEqual(m.edns, { udpSize: 1232, version: 0, dnssecOk: true });
  assert.deepEqual(m.additional.map((r) => r.name), ['x.example.com']);
  // Without an extended part the rcode stays the header's.
  const plain = ok(parseDnsMessage(Buffer.concat([header({ qr: true, rcode: 2, ar: 1 }), question(wireName('a.b')), rr(Buffer.from([0]), OPT, 0, Buffer.alloc(0), 4096)])));
  assert.equal(plain.rcode, 2);
  assert.equal(rcodeName(plain.rcode), 'SERVFAIL');
});

test('the TC bit', () => {
  const m = ok(parseDnsMessage(Buffer.concat([header({ qr: true, tc: true }), question(wireName('big.example'), TXT)])));
  assert.equal(m.flags.tc, true);
  assert.equal(qtypeName(m.questions[0]!.type), 'TXT');
});

test('names are lowercased, without the trailing dot; the root is "."', () => {
  const m = ok(parseDnsMessage(aResponse('WwW.ExAmPlE.CoM', '1.1.1.1')));
  assert.equal(m.questions[0]!.name, 'www.example.com');
  assert.equal(m.answers[0]!.name, 'www.example.com');
  const root = ok(parseDnsMessage(Buffer.concat([header({}), question(Buffer.from([0]), NS)])));
  assert.equal(root.questions[0]!.name, '.');
});

test('hostile labels are escaped as dig does, so they cannot forge another name', () => {
  // One label "evil.com" under "example": not the name evil.com.example.
  const dotted = Buffer.concat([Buffer.from([8]), Buffer.from('evil.com'), Buffer.from([7]), Buffer.from('example'), Buffer.from([0])]);
  const m = ok(parseDnsMessage(Buffer.concat([header({}), question(dotted)])));
  assert.equal(m.questions[0]!.name, 'evil\\.com.example');
  const odd = Buffer.concat([Buffer.from([6, 0x00, 0x20, 0x5c, 0x7f, 0xff, 0x41]), Buffer.from([0])]);
  assert.equal(ok(parseDnsMessage(Buffer.concat([header({}), question(odd)]))).questions[0]!.name, '\\000\\032\\\\\\127\\255a');
  const special = Buffer.concat([Buffer.from([5]), Buffer.from('a"(;@'), Buffer.from([0])]);
  assert.equal(ok(parseDnsMessage(Buffer.concat([header({}), question(special)]))).questions[0]!.name, 'a\\"\\(\\;\\@');
});

test('type, class and rcode names, in both spellings', () => {
  assert.deepEqual([1, 2, 5, 6, 12, 15, 16, 28, 33, 64, 65, 255].map((t) => qtypeName(t)), ['A', 'NS', 'CNAME', 'SOA', 'PTR', 'MX', 'TXT', 'AAAA', 'SRV', 'SVCB', 'HTTPS', 'ANY']);
  assert.equal(qtypeName(123), 'TYPE123');
  assert.equal(qtypeName(123, 'calico'), '#123');
  assert.equal(qtypeName(65, 'calico'), 'HTTPS');
  assert.deepEqual([1, 3, 4, 255, 9].map((c) => qclassName(c)), ['IN', 'CH', 'HS', 'ANY', 'CLASS9']);
  assert.deepEqual([1, 255, 9].map((c) => qclassName(c, 'calico')), ['IN', 'Any', '#9']);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((r) => rcodeName(r)), ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN']);
  assert.deepEqual([0, 2, 3, 5].map((r) => rcodeName(r, 'calico')), ['NoError', 'ServFail', 'NXDomain', 'Refused']);
  assert.equal(rcodeName(12), 'RCODE12');
  assert.equal(rcodeName(12, 'calico'), '#12');
});

// ---- Parser: hostile messages --------------------------------------------------------------------

function fails(msg: Buffer, reason: string): void {
  const r = parseDnsMessage(msg);
  assert.equal(r.ok, false, 'expected a failure');
  if (!r.ok) assert.equal(r.reason, reason);
}

test('compression pointers: a loop, a pointer to itself, a forward one, one into the header', () => {
  // "a" then a pointer back to the same name's start: it would read "a" forever.
  fails(Buffer.concat([header({}), Buffer.from([1, 0x61]), ptr(12), u16(A), u16(IN)]), 'pointer_loop');
  fails(Buffer.concat([header({}), ptr(12), u16(A), u16(IN)]), 'bad_pointer');
  fails(Buffer.concat([header({}), ptr(30), u16(A), u16(IN), Buffer.alloc(20)]), 'bad_pointer');
  fails(Buffer.concat([header({}), ptr(2), u16(A), u16(IN)]), 'bad_pointer');
  // Two names pointing at each other (19 -> 35 -> 19): one pointer of any loop points forward.
  const q = question(wireName('a')); // 12..18
  const loop = Buffer.concat([header({ qr: true, an: 2 }), q, rr(ptr(35), A, 1, ipv4('1.1.1.1')), rr(ptr(19), A, 1, ipv4('1.1.1.1'))]);
  const r = parseDnsMessage(loop);
  assert.ok(r.ok && r.partial && ['pointer_loop', 'bad_pointer'].includes(r.partialReason!), JSON.stringify(r));
});

test('a chain of backward pointers spends the 128-step budget', () => {
  // Answer i's name is a pointer to answer i-1's name: strictly backwards, but ever longer.
  const parts = [header({ qr: true, an: 200 }), question(wireName('a'))];
  let at = 12 + parts[1]!.length;
  let prev = 12;
  for (let i = 0; i < 200; i++) {
    parts.push(rr(ptr(prev), TXT, 1, Buffer.alloc(0)));
    prev = at;
    at += 12;
  }
  const m = ok(parseDnsMessage(Buffer.concat(parts)));
  assert.equal(m.partial, true);
  assert.equal(m.partialReason, 'pointer_loop');
  assert.ok(m.answers.length >= 120 && m.answers.length < 128, String(m.answers.length));
  assert.ok(m.answers.every((a) => a.name === 'a'));
});

test('a 64-byte label, and names over 255 bytes', () => {
  fails(Buffer.concat([header({}), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0]), u16(A), u16(IN)]), 'label_too_long');
  fails(Buffer.concat([header({}), Buffer.from([0x80, 0]), u16(A), u16(IN)]), 'label_too_long');
  const l63 = 'x'.repeat(63);
  fails(Buffer.concat([header({}), question(wireName([l63, l63, l63, l63, l63].join('.')))]), 'name_too_long');
  // 3 * 64 + 62 + 1 = 255 bytes: the longest name there may be.
  const longest = [l63, l63, l63, 'y'.repeat(61)].join('.');
  assert.equal(ok(parseDnsMessage(Buffer.concat([header({}), question(wireName(longest))]))).questions[0]!.name, longest);
  fails(Buffer.concat([header({}), question(wireName([l63, l63, l63, 'y'.repeat(62)].join('.')))]), 'name_too_long');
  // Over 255 through a pointer: each part is fine alone.
  const first = question(wireName([l63, l63, l63].join('.')));
  const joined = Buffer.concat([header({ qd: 2 }), first, question(wireName('y'.repeat(62), 12))]);
  fails(joined, 'name_too_long');
});

test('counts claiming 65535 records, and real counts over the limits', () => {
  fails(Buffer.concat([header({ qd: 65535 }), question(wireName('a'))]), 'truncated');
  const lying = ok(parseDnsMessage(Buffer.concat([header({ qr: true, an: 65535, ns: 65535, ar: 65535 }), question(wireName('a')), rr(ptr(12), A, 1, ipv4('1.2.3.4'))])));
  assert.equal(lying.partial, true);
  assert.equal(lying.partialReason, 'truncated');
  assert.equal(lying.answers.length, 1);
  assert.equal(lying.questions[0]!.name, 'a');

  const manyQ = Buffer.concat([header({ qd: 70 }), ...Array.from({ length: 70 }, (_, i) => question(wireName(`q${i}`)))]);
  const mq = ok(parseDnsMessage(manyQ));
  assert.equal(mq.questions.length, MAX_QUESTIONS);
  assert.equal(mq.partialReason, 'too_many_records');

  const manyA = Buffer.concat([header({ qr: true, an: 300 }), question(wireName('a')), ...Array.from({ length: 300 }, (_, i) => rr(ptr(12), A, 1, ipv4(`10.0.${i >> 8}.${i & 255}`)))]);
  const ma = ok(parseDnsMessage(manyA));
  assert.equal(ma.answers.length, MAX_ANSWERS);
  assert.equal(ma.partial, true);
  assert.equal(ma.partialReason, 'too_many_records');
});

test('a name in record data may not run past the data', () => {
  const data = wireName('edge.cdn.net');
  const bad = Buffer.concat([header({ qr: true, an: 1 }), question(wireName('a')), ptr(12), u16(CNAME), u16(IN), Buffer.alloc(4), u16(4), data]);
  const m = ok(parseDnsMessage(bad));
  assert.equal(m.partialReason, 'bad_rdata');
  assert.equal(m.answers.length, 0);
  // Wrong-sized address data is kept as a record without data.
  const short = ok(parseDnsMessage(Buffer.concat([header({ qr: true, an: 1 }), question(wireName('a')), rr(ptr(12), A, 1, Buffer.from([1, 2, 3]))])));
  assert.deepEqual(short.answers, [{ name: 'a', type: A, class: IN, ttl: 1 }]);
  assert.equal(short.partial, false);
});

test('TTLs with the top bit set read as 0; inputs over 64 KiB are refused', () => {
  const m = ok(parseDnsMessage(Buffer.concat([header({ qr: true, an: 1 }), question(wireName('a')), rr(ptr(12), A, 0x80000000, ipv4('1.2.3.4'))])));
  assert.equal(m.answers[0]!.ttl, 0);
  fails(Buffer.alloc(70_000), 'too_large');
  fails(Buffer.alloc(5), 'truncated');
});

const VALID: Buffer[] = [
  cnameResponse(),
  aResponse('example.com', '93.184.216.34'),
  Buffer.concat([
    header({ qr: true, rcode: 3, ns: 1, ar: 1 }),
    question(wireName('nope.example.com')),
    rr(ptr(12 + 5), SOA, 900, Buffer.concat([wireName('ns', 12 + 5), wireName('admin', 12 + 5), Buffer.alloc(20, 7)])),
    rr(Buffer.from([0]), OPT, 0, Buffer.alloc(0), 1232),
  ]),
  Buffer.concat([header({ qr: true, an: 1 }), question(wireName('v6.example'), AAAA), rr(ptr(12), AAAA, 30, ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]))]),
];

test('every strict prefix of a valid message fails or is partial, and nothing throws', () => {
  for (const msg of VALID) {
    assert.equal(ok(parseDnsMessage(msg)).partial, false);
    for (let n = 0; n < msg.length; n++) {
      const r = parseDnsMessage(msg.subarray(0, n));
      assert.ok(!r.ok || r.partial, `prefix ${n} of ${msg.length} parsed as whole`);
    }
  }
});

// ---- Parser: fuzzing -------------------------------------------------------------------------------

/** xorshift32: a seeded generator, so a failure can be replayed. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function mutate(rand: () => number, base: Buffer): Buffer {
  const pick = (n: number) => rand() % n;
  let b = Buffer.from(base);
  const rounds = 1 + pick(4);
  for (let i = 0; i < rounds; i++) {
    switch (pick(6)) {
      case 0: // bit flips
        for (let k = 1 + pick(8); k > 0 && b.length; k--) b[pick(b.length)]! ^= 1 << pick(8);
        break;
      case 1: // truncation
        b = b.subarray(0, pick(b.length + 1));
        break;
      case 2: {
        // splice: a chunk of another valid message at a random place
        const other = VALID[pick(VALID.length)]!;
        const from = pick(other.length);
        const chunk = other.subarray(from, from + 1 + pick(40));
        const at = pick(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), chunk, b.subarray(at + pick(8))]);
        break;
      }
      case 3: // a random compression pointer
        if (b.length > 2) {
          const at = pick(b.length - 1);
          const target = pick(b.length + 16);
          b[at] = 0xc0 | ((target >> 8) & 0x3f);
          b[at + 1] = target & 0xff;
        }
        break;
      case 4: // a random section count
        if (b.length >= 12) b.writeUInt16BE(rand() & 0xffff, 4 + 2 * pick(4));
        break;
      default: // random bytes appended
        b = Buffer.concat([b, Buffer.from(Array.from({ length: pick(64) }, () => rand() & 0xff))]);
    }
  }
  return b;
}

test('fuzz: 20,000 mutations of valid messages never throw, stay bounded, and run fast', () => {
  const rand = xorshift(0x5eed1);
  let oks = 0;
  let partials = 0;
  const reasons = new Set<string>();
  const started = process.hrtime.bigint();
  for (let i = 0; i < 20_000; i++) {
    const input = mutate(rand, VALID[i % VALID.length]!);
    let r: DnsParseResult;
    try {
      r = parseDnsMessage(input);
    } catch (err) {
      assert.fail(`iteration ${i} threw ${String(err)} on ${input.toString('hex')}`);
    }
    if (!r.ok) {
      reasons.add(r.reason);
      continue;
    }
    oks++;
    if (r.partial) partials++;
    assert.ok(r.questions.length <= MAX_QUESTIONS && r.answers.length <= MAX_ANSWERS && r.authority.length <= 64 && r.additional.length <= 64);
    for (const x of [...r.questions, ...r.answers, ...r.authority, ...r.additional]) {
      // 255 wire bytes, each printed as at most 4 characters.
      assert.ok(x.name.length <= 1020, x.name);
      assert.ok(x.type >= 0 && x.type <= 0xffff && x.class >= 0 && x.class <= 0xffff);
    }
    for (const a of r.answers) if (a.data !== undefined) assert.ok(a.data.length <= 1020);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  // A loose guard only (the VM is slow and shared); the real timing belongs in a benchmark.
  assert.ok(ms < 5000, `${ms} ms for 20,000 parses`);
  assert.ok(oks > 1000 && partials > 100, `${oks} parsed, ${partials} partial`);
  assert.ok(reasons.has('truncated') && reasons.size >= 3, [...reasons].join(','));
});

// ---- Parser: bytes from a real encoder -------------------------------------------------------------

test('a real encoder: c-ares (node:dns) queries a loopback server, and accepts our response', async (t) => {
  const server = createSocket('udp4');
  server.bind(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const seen: DnsMessage[] = [];
  server.on('message', (query: Buffer, from: RemoteInfo) => {
    const r = parseDnsMessage(query);
    if (!r.ok || r.questions.length !== 1) return;
    seen.push(r);
    // Echo the question as sent (case included), answer it through a CNAME.
    let end = 12;
    while (query[end] !== 0) end += query[end]! + 1;
    const qBytes = query.subarray(12, end + 5);
    const edgeAt = 12 + qBytes.length + 12;
    const answers = r.questions[0]!.type === AAAA
      ? [rr(ptr(12), AAAA, 60, ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53]))]
      : [rr(ptr(12), CNAME, 300, wireName('edge.cdn.test')), rr(ptr(edgeAt), A, 60, ipv4('192.0.2.7'))];
    const reply = Buffer.concat([header({ id: r.id, qr: true, ra: true, an: answers.length }), qBytes, ...answers]);
    server.send(reply, from.port, from.address);
  });
  const resolver = new Resolver({ timeout: 3000, tries: 1 });
  resolver.setServers([`127.0.0.1:${server.address().port}`]);

  assert.deepEqual(await resolver.resolve4('Probe.Example.Test'), ['192.0.2.7']);
  assert.deepEqual(await resolver.resolve6('v6.example.test'), ['2001:db8::53']);
  assert.equal(seen.length, 2);
  const [q4, q6] = seen as [DnsMessage, DnsMessage];
  assert.equal(q4.qr, false);
  assert.equal(q4.flags.rd, true);
  assert.deepEqual(q4.questions, [{ name: 'probe.example.test', type: A, class: IN }]);
  assert.deepEqual(q6.questions, [{ name: 'v6.example.test', type: AAAA, class: IN }]);
  assert.equal(q4.partial, false);
});

// ---- Name cache ---------------------------------------------------------------------------------------

function cache(o: Partial<NameCacheOptions> = {}) {
  const clock = { t: 1_000_000 };
  const c = new DnsNameCache({ dns_cache_max_entries: 100, dns_names_per_address: 16, dns_min_ttl: 1_000, dns_max_ttl: 3_600_000, now: () => clock.t, ...o });
  return { c, clock };
}

const parsed = (b: Buffer) => ok(parseDnsMessage(b));

test('cache: a CNAME chain names the address, the queried name first', () => {
  const { c } = cache();
  assert.equal(c.learn(parsed(cnameResponse())), 2);
  assert.deepEqual(c.domainsFor('1.2.3.4'), ['www.example.com', 'edge.cdn.net']);
  assert.deepEqual(c.domainsFor('1.2.3.5', 1), ['www.example.com']);
  assert.deepEqual(c.domainsFor('9.9.9.9'), []);
  assert.equal(c.size, 2);
  assert.equal(c.stats.entries, 2);
  assert.deepEqual({ lookups: c.stats.lookups, hits: c.stats.hits, inserts: c.stats.inserts }, { lookups: 3, hits: 2, inserts: 2 });
  // Queries teach nothing.
  assert.equal(c.learn(parsed(Buffer.concat([header({}), question(wireName('x.test'))]))), 0);
});

test('cache: TTLs with a floor and a ceiling, the smallest along the chain, against the clock', () => {
  const { c, clock } = cache({ dns_min_ttl: 5_000, dns_max_ttl: 60_000 });
  const t0 = clock.t;
  c.learn(parsed(aResponse('zero.test', '10.0.0.1', 0)));
  c.learn(parsed(aResponse('day.test', '10.0.0.2', 86_400)));
  c.learn(parsed(cnameResponse())); // www -> edge: CNAME 300 s, A 60 s: both 60 s after clamping
  clock.t = t0 + 4_999;
  assert.deepEqual(c.domainsFor('10.0.0.1'), ['zero.test']);
  clock.t = t0 + 5_000;
  assert.deepEqual(c.domainsFor('10.0.0.1'), []);
  clock.t = t0 + 59_999;
  assert.deepEqual(c.domainsFor('10.0.0.2'), ['day.test']);
  assert.deepEqual(c.domainsFor('1.2.3.4'), ['www.example.com', 'edge.cdn.net']);
  clock.t = t0 + 60_000;
  assert.deepEqual(c.domainsFor('10.0.0.2'), []);
  assert.equal(c.stats.evictions.expired, 2);

  // The chain's own TTLs: CNAME 10 s, A 300 s: the queried name goes first.
  const { c: c2, clock: k2 } = cache({ dns_min_ttl: 0 });
  const edgeAt = 12 + question(wireName('www.x.test')).length + 12;
  c2.learn(parsed(Buffer.concat([header({ qr: true, an: 2 }), question(wireName('www.x.test')), rr(ptr(12), CNAME, 10, wireName('edge.y.test')), rr(ptr(edgeAt), A, 300, ipv4('10.1.1.1'))])));
  k2.t += 10_000;
  assert.deepEqual(c2.domainsFor('10.1.1.1'), ['edge.y.test']);
  k2.t += 290_000;
  assert.deepEqual(c2.domainsFor('10.1.1.1'), []);
});

test('cache: sweep drops expired addresses; capacity evicts the least recently used', () => {
  const { c, clock } = cache({ dns_cache_max_entries: 3, dns_min_ttl: 0 });
  c.learn(parsed(aResponse('a.test', '10.0.0.1', 10)));
  c.learn(parsed(aResponse('b.test', '10.0.0.2', 100)));
  c.learn(parsed(aResponse('c.test', '10.0.0.3', 100)));
  clock.t += 20_000;
  assert.equal(c.sweep(), 1);
  assert.equal(c.size, 2);
  assert.equal(c.stats.evictions.expired, 1);
  c.learn(parsed(aResponse('d.test', '10.0.0.4', 100)));
  assert.deepEqual(c.domainsFor('10.0.0.2'), ['b.test']); // now the most recently used
  c.learn(parsed(aResponse('e.test', '10.0.0.5', 100)));
  assert.equal(c.size, 3);
  assert.equal(c.stats.evictions.capacity, 1);
  assert.deepEqual(c.domainsFor('10.0.0.3'), []); // the least recently used went
  assert.deepEqual(c.domainsFor('10.0.0.2'), ['b.test']);
});

test('cache: CNAME loops and chains deeper than 16 are cut and counted', () => {
  const { c } = cache();
  // a -> b -> a, and an A for b: the loop is cut; b was reached, so its address is named.
  const q = question(wireName('a.test'));
  const bAt = 12 + q.length + 12;
  const loop = Buffer.concat([header({ qr: true, an: 3 }), q, rr(ptr(12), CNAME, 60, wireName('b.test')), rr(ptr(bAt), CNAME, 60, ptr(12)), rr(ptr(bAt), A, 60, ipv4('10.2.0.1'))]);
  c.learn(parsed(loop));
  assert.equal(c.stats.chainsCut, 1);
  assert.deepEqual(c.domainsFor('10.2.0.1'), ['a.test', 'b.test']);

  // n0 -> n1 -> ... -> n40, with the address at the end: cut at depth 16, the address is not learnt.
  const parts = [header({ qr: true, an: 41 }), question(wireName('n0.test'))];
  for (let i = 0; i < 40; i++) parts.push(rr(wireName(`n${i}.test`), CNAME, 60, wireName(`n${i + 1}.test`)));
  parts.push(rr(wireName('n40.test'), A, 60, ipv4('10.2.0.2')));
  const deep = parsed(Buffer.concat(parts));
  assert.equal(c.learn(deep), 0);
  assert.equal(c.stats.chainsCut, 2);
  assert.equal(c.stats.unrelated, 1);
  // At depth 16 exactly, it is learnt, with all 17 names but the per-address limit of 16.
  const parts16 = [header({ qr: true, an: 17 }), question(wireName('m0.test'))];
  for (let i = 0; i < MAX_CHAIN_DEPTH; i++) parts16.push(rr(wireName(`m${i}.test`), CNAME, 60, wireName(`m${i + 1}.test`)));
  parts16.push(rr(wireName(`m${MAX_CHAIN_DEPTH}.test`), A, 60, ipv4('10.2.0.3')));
  assert.equal(c.learn(parsed(Buffer.concat(parts16))), 1);
  assert.equal(c.stats.chainsCut, 2);
  const names = c.domainsFor('10.2.0.3', 100);
  assert.equal(names.length, 16);
  assert.equal(names[0], 'm0.test');
});

test('cache: at most 16 names per address, the most recently learnt first', () => {
  const { c } = cache();
  for (let i = 0; i < 20; i++) c.learn(parsed(aResponse(`site${i}.test`, '10.3.0.1')));
  const names = c.domainsFor('10.3.0.1', 100);
  assert.equal(names.length, 16);
  assert.equal(names[0], 'site19.test');
  assert.ok(!names.includes('site3.test'));
  assert.equal(c.stats.namesDropped, 4);
  assert.equal(c.stats.inserts, 1);
  assert.equal(c.stats.updates, 19);
});

test('cache: v4-mapped IPv6 lookups find the IPv4 address; IPv6 spellings are one', () => {
  const { c } = cache();
  c.learn(parsed(aResponse('v4.test', '1.2.3.4')));
  assert.deepEqual(c.domainsFor('::ffff:1.2.3.4'), ['v4.test']);
  assert.deepEqual(c.domainsFor('::FFFF:102:304'), ['v4.test']);
  c.learn(parsed(Buffer.concat([header({ qr: true, an: 2 }), question(wireName('v6.test'), AAAA), rr(ptr(12), AAAA, 60, ipv6([0, 0, 0, 0, 0, 0xffff, 0x0506, 0x0708])), rr(ptr(12), AAAA, 60, ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]))])));
  assert.deepEqual(c.domainsFor('5.6.7.8'), ['v6.test']);
  assert.deepEqual(c.domainsFor('2001:DB8:0:0::0:1'), ['v6.test']);
  assert.deepEqual(['::1', '1::', '2001:db8::1:0:0:1', '0:0:0:0:0:0:0:0', '::ffff:10.0.0.1', 'fe80::1:2'].map(canonicalIp), ['::1', '1::', '2001:db8::1:0:0:1', '::', '10.0.0.1', 'fe80::1:2']);
  assert.deepEqual(['1.2.3', '256.1.1.1', 'x', '1:2:3:4:5:6:7:8:9', '1::2::3', ''].map(canonicalIp), [undefined, undefined, undefined, undefined, undefined, undefined]);
  assert.deepEqual(['10.0.0.1', '0.0.0.0', '255.255.255.255', '010.1.1.1', '1.02.3.4', '1.2.3.4.', '.1.2.3', '1..2.3', '1.2.3.1000', '1.2.3.256'].map(canonicalIp),
    ['10.0.0.1', '0.0.0.0', '255.255.255.255', '10.1.1.1', '1.2.3.4', undefined, undefined, undefined, undefined, undefined]);
});

test('cache: answers nobody asked about are ignored, and hostile responses stay bounded', () => {
  const { c } = cache({ dns_cache_max_entries: 50 });
  const sneaky = Buffer.concat([header({ qr: true, an: 2 }), question(wireName('asked.test')), rr(ptr(12), A, 60, ipv4('10.4.0.1')), rr(wireName('bank.test'), A, 60, ipv4('10.4.0.2'))]);
  c.learn(parsed(sneaky));
  assert.deepEqual(c.domainsFor('10.4.0.2'), []);
  assert.equal(c.stats.unrelated, 1);
  // 256 addresses in one answer: the cache keeps 50.
  const flood = Buffer.concat([header({ qr: true, an: 256 }), question(wireName('flood.test')), ...Array.from({ length: 256 }, (_, i) => rr(ptr(12), A, 60, ipv4(`10.5.${i >> 8}.${i & 255}`)))]);
  c.learn(parsed(flood));
  assert.equal(c.size, 50);
  assert.equal(c.stats.evictions.capacity, 207);
});

// ---- Aggregation -----------------------------------------------------------------------------------------

const MS = 1_000_000n;

function agg(o: Partial<ConstructorParameters<typeof DnsAggregator>[0]> = {}) {
  return new DnsAggregator({ dns_pending_max: 100, dns_query_timeout: 5_000, dns_log_max_entries: 100, ...o });
}

function obs(message: Buffer, timeNs: bigint, o: Partial<DnsObservation> = {}): DnsObservation {
  return { processKey: '700:7000', proto: 'udp', clientIp: '10.0.0.9', clientPort: 40000, serverIp: '10.96.0.10', serverPort: 53, timeNs, message: parsed(message), ...o };
}

const queryFor = (name: string, id = 0x1234) => Buffer.concat([header({ id }), question(wireName(name))]);

test('aggregation: a query and its response make one entry with the latency', () => {
  const a = agg();
  a.observe(obs(queryFor('www.example.com'), 1000n * MS));
  a.observe(obs(cnameResponse(), 1005n * MS));
  const { entries, unlogged } = a.flush();
  assert.equal(unlogged, 0);
  assert.equal(entries.length, 1);
  const e = entries[0]!;
  assert.deepEqual(
    { ...e, latency: undefined },
    {
      processKey: '700:7000',
      proto: 'udp',
      clientIp: '10.0.0.9',
      serverIp: '10.96.0.10',
      serverPort: 53,
      qname: 'www.example.com',
      qtype: A,
      qclass: IN,
      rcode: 0,
      rrsets: [
        { name: 'edge.cdn.net', type: A, class: IN, rdata: ['1.2.3.4', '1.2.3.5'] },
        { name: 'www.example.com', type: CNAME, class: IN, rdata: ['edge.cdn.net'] },
      ],
      count: 1,
      firstNs: 1005n * MS,
      lastNs: 1005n * MS,
      latency: undefined,
    },
  );
  assert.deepEqual(e.latency, { count: 1, min: 5e6, max: 5e6, mean: 5e6, p50: 5e6, p90: 5e6, p99: 5e6 });
  assert.equal(a.stats.matched, 1);
  assert.equal(a.pendingCount, 0);
  assert.deepEqual(a.flush().entries, []);
});

test('aggregation: the key is the client, server, question, rcode and the rrset set, in any order', () => {
  const a = agg();
  const reordered = Buffer.concat([header({ qr: true, an: 2 }), question(wireName('example.com')), rr(ptr(12), A, 1, ipv4('2.2.2.2')), rr(ptr(12), A, 1, ipv4('1.1.1.1'))]);
  const ordered = Buffer.concat([header({ qr: true, an: 2 }), question(wireName('example.com')), rr(ptr(12), A, 1, ipv4('1.1.1.1')), rr(ptr(12), A, 1, ipv4('2.2.2.2'))]);
  a.observe(obs(reordered, 1n));
  a.observe(obs(ordered, 2n));
  a.observe(obs(ordered, 3n, { processKey: 'other' }));
  a.observe(obs(ordered, 4n, { serverIp: '8.8.8.8' }));
  a.observe(obs(Buffer.concat([header({ qr: true, rcode: 3 }), question(wireName('example.com'))]), 5n));
  a.observe(obs(Buffer.concat([header({ qr: true }), question(wireName('example.com'), AAAA)]), 6n));
  const { entries } = a.flush();
  assert.equal(entries.length, 5);
  assert.equal(entries[0]!.count, 2);
  assert.equal(entries[0]!.latency, undefined);
  assert.deepEqual(entries[0]!.rrsets, [{ name: 'example.com', type: A, class: IN, rdata: ['1.1.1.1', '2.2.2.2'] }]);
  assert.equal(a.stats.unmatched, 6);
});

test('aggregation: a query that times out is counted; its late response counts without latency', () => {
  const a = agg({ dns_query_timeout: 1_000 });
  a.observe(obs(queryFor('slow.test', 7), 0n));
  a.observe(obs(queryFor('other.test', 8), 500n * MS));
  assert.equal(a.pendingCount, 2);
  a.observe(obs(aResponse('slow.test', '10.0.0.1', 60, 7), 1_200n * MS));
  assert.equal(a.stats.pendingExpired, 1);
  assert.equal(a.stats.unmatched, 1);
  // flush(now) expires what is left.
  const { entries } = a.flush(2_000n * MS);
  assert.equal(a.stats.pendingExpired, 2);
  assert.equal(a.pendingCount, 0);
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.count, 1);
  assert.equal(entries[0]!.latency, undefined);
});

test('aggregation: matching needs the ports, the id and the name; unmatched responses still count', () => {
  const a = agg();
  a.observe(obs(queryFor('a.test', 1), 0n));
  a.observe(obs(aResponse('a.test', '10.0.0.1', 60, 1), 1n * MS, { clientPort: 40001 }));
  a.observe(obs(aResponse('a.test', '10.0.0.1', 60, 2), 2n * MS));
  a.observe(obs(aResponse('b.test', '10.0.0.1', 60, 1), 3n * MS));
  assert.equal(a.stats.matched, 0);
  assert.equal(a.pendingCount, 1);
  a.observe(obs(aResponse('a.test', '10.0.0.1', 60, 1), 4n * MS));
  assert.equal(a.stats.matched, 1);
  const { entries } = a.flush();
  const forA = entries.find((e) => e.qname === 'a.test')!;
  assert.equal(forA.count, 3);
  assert.deepEqual(forA.latency && [forA.latency.count, forA.latency.max], [1, 4e6]);
  assert.equal(a.stats.responses, 4);
  assert.equal(a.stats.unmatched, 3);
});

test('aggregation: pending queries are bounded, the oldest dropped; pending survives a flush', () => {
  const a = agg({ dns_pending_max: 2 });
  a.observe(obs(queryFor('q1.test', 1), 0n));
  a.observe(obs(queryFor('q2.test', 2), 1n));
  a.observe(obs(queryFor('q2.test', 2), 2n)); // a retransmission keeps the first send time
  a.observe(obs(queryFor('q3.test', 3), 3n));
  assert.equal(a.pendingCount, 2);
  assert.equal(a.stats.pendingOverflowed, 1);
  assert.equal(a.stats.retransmitted, 1);
  assert.equal(a.flush().entries.length, 0);
  a.observe(obs(aResponse('q1.test', '10.0.0.1', 60, 1), 10n));
  a.observe(obs(aResponse('q2.test', '10.0.0.1', 60, 2), 11n));
  assert.equal(a.stats.unmatched, 1);
  assert.equal(a.stats.matched, 1);
  assert.equal(a.flush().entries.find((e) => e.qname === 'q2.test')!.latency!.max, 10);
});

test('aggregation: entries are capped per interval; the rest are counted as unlogged', () => {
  const a = agg({ dns_log_max_entries: 2 });
  for (let i = 0; i < 5; i++) a.observe(obs(aResponse(`n${i}.test`, '10.0.0.1'), BigInt(i)));
  a.observe(obs(aResponse('n0.test', '10.0.0.1'), 9n));
  const { entries, unlogged } = a.flush();
  assert.equal(entries.length, 2);
  assert.equal(entries[0]!.count, 2);
  assert.equal(unlogged, 3);
  assert.equal(a.flush().unlogged, 0);
});

test('latency sketch: exact min, max and mean; percentiles within the bucket error', () => {
  const s = new LatencySketch();
  for (let i = 1; i <= 100; i++) s.add(i * 1e6);
  const sum = s.summary()!;
  assert.equal(sum.count, 100);
  assert.equal(sum.min, 1e6);
  assert.equal(sum.max, 100e6);
  assert.equal(sum.mean, 50.5e6);
  for (const [got, want] of [[sum.p50, 50e6], [sum.p90, 90e6], [sum.p99, 99e6]] as const) {
    assert.ok(Math.abs(got - want) / want < 0.07, `${got} vs ${want}`);
  }
  assert.equal(new LatencySketch().summary(), undefined);
  const zero = new LatencySketch();
  zero.add(0);
  assert.deepEqual(zero.summary(), { count: 1, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0 });
  assert.deepEqual(rrsetsOf([]), []);
});

// ---- DNS log documents ---------------------------------------------------------------------------------

test('DNS log documents: the asking process (the image at the response), endpoints and answers in Calico\'s words, valid against the contract', () => {
  const defaults = agentDefaults({ node_name: 'node-a' });
  const cache = new ProcessCache({ ...defaults, redactor: new Redactor(defaults), cache_max_entries: 100, exit_retention: 60_000 });
  const S = 1_000_000_000n;
  cache.onExec(execEvent(700, 7n * S, '/usr/bin/curl', ['-s', 'http://www.example.com/'], { timeNs: 7n * S }));
  const endpoints = new EndpointNamer('node-a');
  const ctx: DnsDocumentContext = {
    node_name: 'node-a',
    resolve: (pid, start, comm) => cache.lookup(pid, start) ?? cache.addGone(pid, start, comm),
    local: (ip) => endpoints.local(ip),
    peer: (ip) => endpoints.of(ip),
    userName: () => 'root',
    parentName: () => undefined,
  };
  const a = agg();
  const key = processKey(700, 7n * S, 'curl');
  a.observe(obs(queryFor('www.example.com'), 8n * S, { processKey: key }));
  a.observe(obs(cnameResponse(), 8n * S + 3n * MS, { processKey: key }));
  // An exec without fork after the response: the log still names curl, the image that asked.
  cache.onExec(execEvent(700, 7n * S, '/usr/bin/python3', ['python3', 'x.py'], { timeNs: 9n * S }));
  a.observe(obs(aResponse('gone.example', '192.0.2.1'), 10n * S, { processKey: processKey(0, 0n, '') }));
  const docs = a.flush().entries.map((e) => dnsLogDocument(e, '2026-03-04T05:05:52.000Z', '2026-03-04T05:06:07.000Z', ctx));
  for (const d of docs) assert.equal(DNS_CONTRACT.validate(d), null, JSON.stringify(d));
  const www = docs.find((d) => d.qname === 'www.example.com')!;
  assert.equal(www.process_name, '/usr/bin/curl');
  assert.equal(www.process_id, '700');
  assert.deepEqual(www.process_args, ['-s http://www.example.com/']);
  assert.ok(www.process_exec_id);
  assert.equal(www.process_user_name, 'root');
  assert.deepEqual([www.qtype, www.qclass, www.rcode, www.proto, www.count], ['A', 'IN', 'NoError', 'udp', 1]);
  assert.deepEqual(www.servers, [{ ip: '10.96.0.10', port: 53, name: '-', name_aggr: 'pvt', namespace: '-' }]);
  assert.deepEqual(www.rrsets, [
    { name: 'edge.cdn.net', class: 'IN', type: 'A', rdata: ['1.2.3.4', '1.2.3.5'] },
    { name: 'www.example.com', class: 'IN', type: 'CNAME', rdata: ['edge.cdn.net'] },
  ]);
  assert.deepEqual(www.dns_resolved_ip, ['1.2.3.4', '1.2.3.5']);
  assert.equal(www.latency_count, 1);
  assert.equal(www.latency_max, 3_000_000);
  assert.equal(www.client_name_aggr, 'node-a');
  const gone = docs.find((d) => d.qname === 'gone.example')!;
  assert.deepEqual([gone.process_name, gone.process_id, gone.latency_count, gone.process_exec_id], ['-', '-', 0, undefined]);
});

test('process keys survive task names with slashes', () => {
  assert.deepEqual(parseProcessKey(processKey(12, 34n, 'kworker/0:1')), { pid: 12, startNs: 34n, comm: 'kworker/0:1' });
});
