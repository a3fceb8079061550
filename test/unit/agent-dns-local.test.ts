// The local resolver protocols as the agent reads them from the kernel's copies: nscd's requests
// and replies (laid out as glibc and nscd 2.36 write them, checked against the real pair in
// test/kernel/dns-local.test.ts), varlink's NUL-ended JSON, bytes arriving in any chunking, and
// hostile bytes that must neither throw nor grow without bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DnsEvent } from '../../native/types.js';
import { LocalResolverStreams } from '../../agent/dns/local-resolver.js';
import { QTYPE_ADDRESSES, qtypeName } from '../../agent/dns/message.js';
import { prng } from '../support/prng.js';

let clock = 1_000n;
function event(cookie: bigint, direction: 'query' | 'response', payload: Buffer, channel: 'nscd' | 'varlink', wireLength = payload.length): DnsEvent {
  return {
    kind: 'dns', pid: 42, ppid: 0, startNs: 7n, comm: 'getent', timeNs: (clock += 1_000n),
    direction, proto: 'unix', channel, family: 4, localIp: '', localPort: 0, remoteIp: '', remotePort: 0,
    cookie, payload, wireLength,
  } as DnsEvent;
}

const i32 = (...v: number[]) => Buffer.concat(v.map((n) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; }));
const cstr = (s: string) => Buffer.from(`${s}\0`, 'latin1');

/** glibc's request: version 2, type, key length, key. */
const nscdRequest = (type: number, key: Buffer) => Buffer.concat([i32(2, type, key.length), key]);
/** nscd's GETAI reply: header, addresses, one family byte each, canonical name. */
function nscdAiReply(addrs: [4 | 6, number[]][], canon: string): Buffer {
  const bytes = Buffer.concat(addrs.map(([, a]) => Buffer.from(a)));
  const fams = Buffer.from(addrs.map(([f]) => (f === 4 ? 2 : 10)));
  const c = cstr(canon);
  return Buffer.concat([i32(2, 1, addrs.length, bytes.length, c.length, 0), bytes, fams, c]);
}

/** Feeds `bytes` as events of at most `size` bytes each. */
function feed(s: LocalResolverStreams, cookie: bigint, dir: 'query' | 'response', bytes: Buffer, channel: 'nscd' | 'varlink', size = bytes.length) {
  const out = [];
  for (let i = 0; i < bytes.length; i += size) out.push(...s.take(event(cookie, dir, bytes.subarray(i, i + size), channel), channel));
  return out.map((m) => m.message);
}

const answers = (m: { answers: { name: string; type: number; data?: string }[] }) => m.answers.map((r) => [r.name, r.type, r.data]);

test('nscd getaddrinfo: the request, then the reply with addresses and the canonical name, in any chunking', () => {
  for (const size of [1, 3, 7, 24, 1000]) {
    const s = new LocalResolverStreams();
    const q = feed(s, 1n, 'query', nscdRequest(14, cstr('WWW.Example.test')), 'nscd', size);
    assert.deepEqual(q.map((m) => [m.qr, m.questions[0]]), [[false, { name: 'www.example.test', type: QTYPE_ADDRESSES, class: 1 }]]);
    const r = feed(s, 1n, 'response', nscdAiReply([[4, [192, 0, 2, 1]], [6, [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1]]], 'edge.example.test'), 'nscd', size);
    assert.equal(r.length, 1, `chunks of ${size}`);
    assert.equal(r[0]!.id, q[0]!.id);
    assert.deepEqual(answers(r[0]!), [
      ['www.example.test', 5, 'edge.example.test'],
      ['edge.example.test', 1, '192.0.2.1'],
      ['edge.example.test', 28, '2001:db8::1'],
    ]);
    assert.equal(s.stats.malformed, 0);
  }
  assert.equal(qtypeName(QTYPE_ADDRESSES, 'calico'), 'A+AAAA');
});

test('nscd not found, no data, and "not served here" replies', () => {
  const cases: [number, number, number | undefined][] = [[0, 1, 3], [0, 4, 0], [0, 2, 2], [-1, 0, undefined]];
  for (const [found, herrno, rcode] of cases) {
    const s = new LocalResolverStreams();
    feed(s, 2n, 'query', nscdRequest(14, cstr('nx.test')), 'nscd');
    const r = feed(s, 2n, 'response', i32(2, found, 0, 0, 0, herrno), 'nscd');
    assert.deepEqual(r.map((m) => m.rcode), rcode === undefined ? [] : [rcode], `found ${found}, h_errno ${herrno}`);
  }
});

test('nscd gethostbyname: the reply read as several buffers (header, name, alias lengths, addresses)', () => {
  const s = new LocalResolverStreams();
  const q = feed(s, 3n, 'query', nscdRequest(4, cstr('host.test')), 'nscd');
  assert.equal(q[0]!.questions[0]!.type, 1);
  const name = cstr('host.test');
  const header = i32(2, 1, name.length, 1, 2, 4, 2, 0);
  const aliasLens = i32(6);
  const addrs = Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]);
  let got: ReturnType<typeof feed> = [];
  for (const part of [header, name, aliasLens, addrs, cstr('alias')]) got = got.concat(feed(s, 3n, 'response', part, 'nscd'));
  assert.deepEqual(got.map(answers), [[['host.test', 1, '10.0.0.1'], ['host.test', 1, '10.0.0.2']]]);

  // A reverse lookup: the key is the address, the answer a PTR.
  const p = new LocalResolverStreams();
  const rq = feed(p, 4n, 'query', nscdRequest(6, Buffer.from([192, 0, 2, 9])), 'nscd');
  assert.deepEqual(rq[0]!.questions[0], { name: '9.2.0.192.in-addr.arpa', type: 12, class: 1 });
  const ptr = cstr('nine.test');
  const rr = feed(p, 4n, 'response', Buffer.concat([i32(2, 1, ptr.length, 0, 2, 4, 1, 0), ptr, Buffer.from([192, 0, 2, 9])]), 'nscd');
  assert.deepEqual(answers(rr[0]!), [['9.2.0.192.in-addr.arpa', 12, 'nine.test']]);
});

test('nscd requests that are not about hosts (passwd, the shared-memory map) make nothing', () => {
  const s = new LocalResolverStreams();
  assert.deepEqual(feed(s, 5n, 'query', nscdRequest(13, cstr('hosts')), 'nscd'), []);
  assert.deepEqual(feed(s, 5n, 'response', Buffer.alloc(14), 'nscd'), []);
  assert.deepEqual(feed(s, 6n, 'query', nscdRequest(0, cstr('root')), 'nscd'), []);
  assert.equal(s.stats.queries + s.stats.malformed, 0);
});

test('nscd: a request on a connection id seen before starts afresh (a freed socket comes back for the next request)', () => {
  const s = new LocalResolverStreams();
  // GETFDHST, answered by a bare EOF the kernel never reports; then GETAI on a socket at the same address.
  feed(s, 9n, 'query', nscdRequest(13, cstr('hosts')), 'nscd');
  const q = feed(s, 9n, 'query', nscdRequest(14, cstr('again.test')), 'nscd');
  const r = feed(s, 9n, 'response', nscdAiReply([[4, [192, 0, 2, 7]]], 'again.test'), 'nscd');
  assert.deepEqual([q.length, r.map(answers)], [1, [[['again.test', 1, '192.0.2.7']]]]);
});

test('a cut reply is decoded as far as it goes; a reply without a request is let go', () => {
  const s = new LocalResolverStreams();
  feed(s, 7n, 'query', nscdRequest(14, cstr('cut.test')), 'nscd');
  const full = nscdAiReply([[4, [192, 0, 2, 1]], [4, [192, 0, 2, 2]]], 'cut.test');
  const r = s.take(event(7n, 'response', full.subarray(0, 28), 'nscd', full.length), 'nscd').map((m) => m.message);
  assert.deepEqual(r.map((m) => [m.partial, answers(m)]), [[true, [['cut.test', 1, '192.0.2.1']]]]);
  assert.equal(s.stats.cut, 1);
  assert.deepEqual(feed(s, 8n, 'response', full, 'nscd'), []);
});

test('varlink: ResolveHostname and ResolveAddress, errors as response codes, pipelined requests', () => {
  const s = new LocalResolverStreams();
  const send = (o: unknown) => Buffer.from(`${JSON.stringify(o)}\0`);
  const reqs = Buffer.concat([
    send({ method: 'io.systemd.Resolve.ResolveHostname', parameters: { name: 'web.test', flags: 0 } }),
    send({ method: 'io.systemd.Resolve.ResolveHostname', parameters: { name: 'v4.test', family: 2 } }),
    send({ method: 'io.systemd.Resolve.ResolveAddress', parameters: { family: 2, address: [192, 0, 2, 5] } }),
    send({ method: 'io.systemd.Resolve.ResolveHostname', parameters: { name: 'nx.test' } }),
    send({ method: 'io.systemd.Resolve.ResolveHostname', parameters: { name: 'nodata.test', family: 10 } }),
    send({ method: 'org.varlink.service.GetInfo', parameters: {} }),
  ]);
  const q = feed(s, 9n, 'query', reqs, 'varlink', 5);
  assert.deepEqual(q.map((m) => [m.questions[0]!.name, m.questions[0]!.type]), [['web.test', QTYPE_ADDRESSES], ['v4.test', 1], ['5.2.0.192.in-addr.arpa', 12], ['nx.test', QTYPE_ADDRESSES], ['nodata.test', 28]]);
  const replies = Buffer.concat([
    send({ parameters: { addresses: [{ ifindex: 1, family: 2, address: [127, 0, 0, 79] }, { ifindex: 1, family: 10, address: [...Array(15).fill(0), 1] }], name: 'edge.test', flags: 1 } }),
    send({ parameters: { addresses: [{ family: 2, address: [10, 1, 2, 3] }], name: 'v4.test' } }),
    send({ parameters: { names: [{ ifindex: 1, name: 'five.test' }], flags: 0 } }),
    send({ error: 'io.systemd.Resolve.DNSError', parameters: { rcode: 3 } }),
    send({ error: 'io.systemd.Resolve.NoSuchResourceRecord', parameters: {} }),
    send({ parameters: { version: '252' } }),
  ]);
  const r = feed(s, 9n, 'response', replies, 'varlink', 11);
  assert.deepEqual(r.map((m) => [m.id, m.rcode, answers(m)]), [
    [q[0]!.id, 0, [['web.test', 5, 'edge.test'], ['edge.test', 1, '127.0.0.79'], ['edge.test', 28, '::1']]],
    [q[1]!.id, 0, [['v4.test', 1, '10.1.2.3']]],
    [q[2]!.id, 0, [['5.2.0.192.in-addr.arpa', 12, 'five.test']]],
    [q[3]!.id, 3, []],
    [q[4]!.id, 0, []],
  ]);
  assert.equal(s.stats.malformed, 0);
});

test('hostile bytes: never a throw, connections that do not parse are dropped and counted, memory stays bounded', () => {
  const rnd = prng(0x5eed);
  const s = new LocalResolverStreams(64);
  for (let i = 0; i < 5000; i++) {
    const len = Math.floor(rnd() * 300);
    const bytes = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
    // Some start like a real message, so the parsers get past their first checks.
    if (rnd() < 0.3 && len >= 12) bytes.writeInt32LE(2, 0);
    if (rnd() < 0.2 && len >= 8) bytes.writeInt32LE(14, 4);
    const channel = rnd() < 0.5 ? 'nscd' : 'varlink';
    const cookie = BigInt(Math.floor(rnd() * 200));
    s.take(event(cookie, rnd() < 0.5 ? 'query' : 'response', bytes, channel, rnd() < 0.1 ? len + 5 : len), channel);
  }
  assert.ok(s.openConnections <= 64, `connections bounded: ${s.openConnections}`);
  assert.ok(s.stats.malformed > 0, 'garbage is counted');

  // Lengths that promise more than any reply holds drop the connection instead of waiting for ever.
  const t = new LocalResolverStreams();
  feed(t, 1n, 'query', nscdRequest(14, cstr('big.test')), 'nscd');
  assert.deepEqual(feed(t, 1n, 'response', i32(2, 1, 1_000_000, 0, 0, 0), 'nscd'), []);
  assert.equal(t.stats.malformed, 1);
  // A varlink request that never ends is dropped at the bound.
  const u = new LocalResolverStreams();
  for (let i = 0; i < 17; i++) feed(u, 2n, 'query', Buffer.alloc(1024, 0x41), 'varlink');
  assert.equal(u.openConnections, 0);
  assert.equal(u.stats.malformed, 1);
});
