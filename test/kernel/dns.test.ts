// DNS capture on the real kernel: a local DNS server (this test, on loopback) answers a client
// process over UDP (connected and unconnected, IPv4 and IPv6) and TCP; the collector hands over
// the query and the response with the client's pid, the right addresses and the message bytes,
// and nothing from the server's own side of the conversation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import type { DnsEvent } from '../../native/index.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openHarness, requireKernel, runChild } from '../support/kernel.js';
import { notApplicable } from '../support/environment.js';

/** A query for `name` (type A, id `id`), as a resolver sends it. */
function query(id: number, name: string): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2); // RD
  head.writeUInt16BE(1, 4); // one question
  return Buffer.concat([head, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** The answer to a query: the question back, and one A record 127.0.0.1 with a pointer to the name. */
function answer(q: Buffer): Buffer {
  const r = Buffer.from(q);
  r.writeUInt16BE(0x8180, 2);
  r.writeUInt16BE(1, 6);
  return Buffer.concat([r, Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1])]);
}

async function udpServer(family: 'udp4' | 'udp6', host: string): Promise<{ sock: Socket; port: number }> {
  const sock = createSocket(family);
  sock.on('message', (msg, rinfo) => sock.send(answer(msg), rinfo.port, rinfo.address));
  await new Promise<void>((r) => sock.bind(0, host, r));
  return { sock, port: sock.address().port };
}

/** A client process: sends `q` to host:port (connected or not) and waits for the answer. */
const UDP_CLIENT = `
const dgram = require('node:dgram');
const [fam, host, port, hex, connect] = process.argv.slice(1);
const s = dgram.createSocket(fam);
s.on('message', () => { s.close(); });
const q = Buffer.from(hex, 'hex');
if (connect === '1') s.connect(Number(port), host, () => s.send(q));
else s.send(q, Number(port), host);
setTimeout(() => process.exit(2), 5000).unref();
`;

const dnsOf = (events: unknown[], pid: number): DnsEvent[] => (events as DnsEvent[]).filter((e) => e.kind === 'dns' && e.pid === pid);

for (const [family, host, connect] of [['udp4', '127.0.0.1', '1'], ['udp4', '127.0.0.1', '0'], ['udp6', '::1', '1'], ['udp6', '::1', '0']] as const) {
  test(`DNS over ${family} (${connect === '1' ? 'connected' : 'sendto'}): the query and the response, with the client's pid and bytes`, async (t) => {
    if (!requireKernel(t)) return;
    const server = await udpServer(family, host);
    t.after(() => server.sock.close());
    const h = openHarness(t, { dnsPort: server.port });
    const dnsHook = h.collector.hooks.find((x) => x.hook === 'dns');
    if (dnsHook?.via === 'none') return t.skip(`not applicable on this kernel: ${dnsHook.reason}`);
    const q = query(0x1234, 'svc.procflow.test');
    const child = await runChild(process.execPath, ['-e', UDP_CLIENT, family, host, String(server.port), q.toString('hex'), connect]);
    assert.equal(child.code, 0, child.stderr);
    await h.waitFor('the query and the response', () => dnsOf(h.events, child.pid).length >= 2);
    const [sent, got] = [dnsOf(h.events, child.pid).find((e) => e.direction === 'query')!, dnsOf(h.events, child.pid).find((e) => e.direction === 'response')!];
    assert.deepEqual(sent.payload, q, 'the query as sent');
    assert.deepEqual(got.payload, answer(q), 'the response as received');
    for (const e of [sent, got]) {
      assert.equal(e.proto, 'udp');
      assert.equal(e.family, family === 'udp4' ? 4 : 6);
      assert.equal(e.remotePort, server.port);
      assert.equal(e.remoteIp, host);
      assert.equal(e.wireLength, e.payload.length);
      assert.ok(e.startNs > 0n && e.comm.length > 0, 'the owner is known');
      assert.equal(e.localIp, host, 'the client\'s address, also for an unconnected socket');
    }
    assert.equal(sent.localPort, got.localPort, 'one client socket');
    assert.equal(sent.cookie, got.cookie);
    assert.equal(h.events.filter((e) => e.kind === 'dns' && e.pid !== child.pid).length, 0, "the server's own side is not captured");
  });
}

test('where the kernel has BTF trampolines, DNS is captured per message; elsewhere per packet, saying why', (t) => {
  if (!requireKernel(t)) return;
  const h = openHarness(t);
  const dns = h.collector.hooks.find((x) => x.hook === 'dns')!;
  const local = h.collector.hooks.find((x) => x.hook === 'dns_local')!;
  // The unix socket capture needs the same trampolines: the two hooks agree on whether the kernel has them.
  assert.equal(dns.via === 'fentry', local.via === 'fentry', `dns via ${dns.via} (${dns.reason}), dns_local via ${local.via} (${local.reason})`);
  const attached = new Set(h.collector.programs().filter((p) => p.attached).map((p) => p.name));
  if (dns.via === 'fentry') {
    assert.match(dns.target, /ip_send_skb/);
    assert.ok(!attached.has('pf_dns_egress') && !attached.has('pf_dns_ingress'), 'no packet program runs');
    assert.ok(attached.has('pf_dm_usend4') && attached.has('pf_dm_tsend'), [...attached].join(' '));
  } else {
    assert.equal(dns.via, 'cgroup', dns.reason);
    assert.match(dns.reason, /skipped fentry: /, 'it says why the per-message capture is not used');
    assert.ok(attached.has('pf_dns_egress') && attached.has('pf_dns_ingress'));
  }
});

test('a socket that addressed the server before the collector started is still named (per-message capture)', async (t) => {
  if (!requireKernel(t)) return;
  const server = await udpServer('udp4', '127.0.0.1');
  t.after(() => server.sock.close());
  // The client connects, says so, and sends its query only when told (a long-lived resolver's socket).
  const client = `
    const dgram = require('node:dgram');
    const s = dgram.createSocket('udp4');
    s.on('message', () => { s.close(); process.exit(0); });
    s.connect(${server.port}, '127.0.0.1', () => process.stdout.write('connected\\n'));
    process.stdin.once('data', () => s.send(Buffer.from(process.argv[1], 'hex')));
    setTimeout(() => process.exit(2), 20000).unref();
  `;
  const q = query(0x4321, 'early.procflow.test');
  const child = spawn(process.execPath, ['-e', client, q.toString('hex')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  t.after(() => child.kill());
  // The child's first line, or its exit (then the assertion below names what it said).
  await Promise.race([once(child.stdout!, 'data'), exited]);
  assert.equal(child.exitCode, null, 'the client is waiting, connected');
  const h = openHarness(t, { dnsPort: server.port });
  const dnsHook = h.collector.hooks.find((x) => x.hook === 'dns')!;
  if (dnsHook.via !== 'fentry') {
    child.stdin!.end('go\n');
    await exited;
    return notApplicable(t, `DNS is captured per packet here (${dnsHook.via}): a socket's owner is learnt when it connects or sends to the server port`);
  }
  child.stdin!.end('go\n');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
  await h.waitFor('the query and the response', () => dnsOf(h.events, child.pid!).length >= 2);
  const got = dnsOf(h.events, child.pid!);
  assert.deepEqual(got.map((e) => e.direction).sort(), ['query', 'response']);
  assert.deepEqual(got.find((e) => e.direction === 'query')!.payload, q);
  assert.ok(got.every((e) => e.comm.length > 0 && e.startNs > 0n), 'the owner is the process that sent and received');
});

test('a socket at the address of a closed one that asked is not taken for it', async (t) => {
  if (!requireKernel(t)) return;
  const server = await udpServer('udp4', '127.0.0.1');
  t.after(() => server.sock.close());
  const h = openHarness(t, { dnsPort: server.port });
  if (h.collector.hooks.find((x) => x.hook === 'dns')?.via === 'none') return t.skip('not applicable: the dns hook is not attached here');
  // The per-message capture (fentry) knows a socket that asked by its kernel address, which a
  // later socket can get back; the per-packet one knows it by its cookie, which none reuses.
  // Socket a asks and closes; sockets are then opened one at a time until one gets a's kernel
  // address back (/proc/net/udp shows it, hashed: equal addresses hash alike). That socket, b,
  // never asks: the server sends it a datagram, which is no response to anything of b's.
  const client = `
    const dgram = require('node:dgram');
    const fs = require('node:fs');
    const [port, hex] = process.argv.slice(1);
    const addressOf = (p) => {
      const tail = ':' + p.toString(16).toUpperCase().padStart(4, '0');
      const line = fs.readFileSync('/proc/net/udp', 'utf8').split('\\n').find((l) => (l.trim().split(/\\s+/)[1] || '').endsWith(tail));
      return line && line.trim().split(/\\s+/)[11];
    };
    const open = () => new Promise((r) => { const s = dgram.createSocket('udp4'); s.bind(0, '127.0.0.1', () => r(s)); });
    setTimeout(() => process.exit(2), 30000).unref();
    (async () => {
      const a = await open();
      const aPort = a.address().port;
      const was = addressOf(aPort);
      await new Promise((r) => { a.once('message', r); a.send(Buffer.from(hex, 'hex'), Number(port), '127.0.0.1'); });
      a.close();
      for (let i = 0; i < 1000; i++) {
        await new Promise((r) => setTimeout(r, 10));
        const b = await open();
        if (addressOf(b.address().port) !== was) { b.close(); continue; }
        b.once('message', () => { b.close(); process.exit(0); });
        process.stdout.write(JSON.stringify({ a: aPort, b: b.address().port, tries: i + 1 }) + '\\n');
        return;
      }
      process.stdout.write(JSON.stringify({ a: aPort }) + '\\n');
      process.exit(0);
    })();
  `;
  const q = query(0x5151, 'gone.procflow.test');
  const child = spawn(process.execPath, ['-e', client, String(server.port), q.toString('hex')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  t.after(() => child.kill());
  const [line] = (await Promise.race([once(child.stdout!, 'data'), exited])) as [Buffer | number | null];
  assert.ok(Buffer.isBuffer(line), 'the client says which sockets it used');
  const ports = JSON.parse(line.toString()) as { a: number; b?: number; tries?: number };
  if (ports.b === undefined) {
    await exited;
    return notApplicable(t, 'no later socket got the closed socket\'s address in 1000 tries');
  }
  server.sock.send(answer(q), ports.b, '127.0.0.1');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, 'b read the datagram');
  await h.waitFor("a's query and response", () => dnsOf(h.events, child.pid!).length >= 2);
  // b's read went through the same hooks by now; give the ring buffer's poller a turn to hand it over.
  await new Promise((r) => setTimeout(r, 500));
  const got = dnsOf(h.events, child.pid!);
  assert.deepEqual(got.filter((e) => e.localPort === ports.a).map((e) => e.direction).sort(), ['query', 'response'], "a's exchange");
  assert.deepEqual(got.filter((e) => e.localPort === ports.b), [], `b (at a's address after ${ports.tries} sockets) asked nothing, so it has no response`);
});

test('DNS over TCP: the length-prefixed query and response segments, with the client\'s pid', async (t) => {
  if (!requireKernel(t)) return;
  const server = createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const a = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      const len = Buffer.alloc(2);
      len.writeUInt16BE(a.length);
      s.end(Buffer.concat([len, a]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const h = openHarness(t, { dnsPort: port });
  if (h.collector.hooks.find((x) => x.hook === 'dns')?.via === 'none') return t.skip('not applicable: the dns hook is not attached here');
  const q = query(7, 'big.procflow.test');
  const client = `
    const net = require('node:net');
    const q = Buffer.from(process.argv[1], 'hex');
    const len = Buffer.alloc(2); len.writeUInt16BE(q.length);
    const c = net.connect(${port}, '127.0.0.1', () => c.write(Buffer.concat([len, q])));
    c.on('data', () => {}); c.on('end', () => c.end());
  `;
  const child = await runChild(process.execPath, ['-e', client, q.toString('hex')]);
  assert.equal(child.code, 0, child.stderr);
  await h.waitFor('the TCP query and response', () => dnsOf(h.events, child.pid).some((e) => e.direction === 'response'));
  const segs = dnsOf(h.events, child.pid);
  const out = Buffer.concat(segs.filter((e) => e.direction === 'query').map((e) => e.payload));
  const back = Buffer.concat(segs.filter((e) => e.direction === 'response').map((e) => e.payload));
  assert.equal(out.readUInt16BE(0), q.length);
  assert.deepEqual(out.subarray(2), q);
  assert.deepEqual(back.subarray(2), answer(q));
  assert.ok(segs.every((e) => e.proto === 'tcp' && e.remotePort === port && e.payload.length > 0), 'only segments with data');
});

test('a packet longer than the capture size is cut and counted', async (t) => {
  if (!requireKernel(t)) return;
  const sock = createSocket('udp4');
  // A 3000-byte "answer": more than PF_DNS_MAX (2048).
  sock.on('message', (msg, rinfo) => sock.send(Buffer.concat([answer(msg), Buffer.alloc(3000)]), rinfo.port, rinfo.address));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  t.after(() => sock.close());
  const h = openHarness(t, { dnsPort: sock.address().port });
  if (h.collector.hooks.find((x) => x.hook === 'dns')?.via === 'none') return t.skip('not applicable: the dns hook is not attached here');
  const before = h.collector.counters().dnsCut ?? 0;
  const child = await runChild(process.execPath, ['-e', UDP_CLIENT, 'udp4', '127.0.0.1', String(sock.address().port), query(9, 'a.test').toString('hex'), '1']);
  assert.equal(child.code, 0, child.stderr);
  await h.waitFor('the long response', () => dnsOf(h.events, child.pid).some((e) => e.direction === 'response'));
  const got = dnsOf(h.events, child.pid).find((e) => e.direction === 'response')!;
  assert.equal(got.payload.length, 2048);
  assert.ok(got.wireLength > 3000);
  assert.equal((h.collector.counters().dnsCut ?? 0) - before, 1);
});

test('through the agent: names on the flow; DNS logs name the asking process for CNAME chains, AAAA, NXDOMAIN, TCP fallback and a query through a stub resolver', async (t) => {
  if (!requireKernel(t)) return;
  const { startDnsServer, STUB_RESOLVER } = await import('../support/dns-server.js');
  const big = Array.from({ length: 60 }, (_, i) => ({ type: 'A' as const, address: `127.0.1.${i + 1}` }));
  const server = await startDnsServer({
    'svc.procflow.test': [{ type: 'CNAME', target: 'edge.procflow.test' }],
    'edge.procflow.test': [{ type: 'A', address: '127.0.0.77' }],
    'v6.procflow.test': [{ type: 'AAAA', address: '::1' }],
    'big.procflow.test': big,
    'stub.procflow.test': [{ type: 'A', address: '127.0.0.78' }],
  });
  t.after(() => server.close());
  const sink = createServer((s) => s.on('data', () => s.end()).on('error', () => {}));
  await new Promise<void>((r) => sink.listen(0, '127.0.0.77', r));
  t.after(() => sink.close());
  const port = (sink.address() as AddressInfo).port;
  const { CLI, start, stop, waitFor } = await import('../support/processes.js');
  const { freePort } = await import('../../common/net.js');
  const agent = start([CLI, 'agent', '--output', 'ndjson', '--flush-interval', '1s', '--listen', `127.0.0.1:${await freePort()}`, '--dns-port', String(server.port), '--log-level', 'info']);
  t.after(() => stop(agent));
  await waitFor('the agent', async () => {
    if (agent.child.exitCode !== null) throw new Error(`the agent exited: ${agent.output()}`);
    return agent.output().includes('agent: running') ? true : undefined;
  }, 90_000);
  // The stub: a process of its own on 127.0.0.53, the same port, forwarding to the server.
  const stub = start(['-e', STUB_RESOLVER, '127.0.0.53', String(server.port), server.host, String(server.port)]);
  t.after(() => stop(stub));
  await waitFor('the stub resolver', async () => (stub.output().includes('stub: ready') ? true : undefined));

  const client = `
    const { Resolver } = require('node:dns').promises;
    const net = require('node:net');
    const direct = new Resolver({ timeout: 3000, tries: 2 });
    direct.setServers(['127.0.0.1:${server.port}']);
    const viaStub = new Resolver({ timeout: 3000, tries: 2 });
    viaStub.setServers(['127.0.0.53:${server.port}']);
    (async () => {
      const addrs = await direct.resolve4('svc.procflow.test');
      await new Promise((resolve) => { const c = net.connect(${port}, addrs[0], () => c.end('hello')); c.on('close', resolve); });
      await direct.resolve6('v6.procflow.test');
      await direct.resolve4('missing.procflow.test').then(() => process.exit(4), (e) => { if (e.code !== 'ENOTFOUND') throw e; });
      const many = await direct.resolve4('big.procflow.test');
      if (many.length !== 60) process.exit(5);
      await viaStub.resolve4('stub.procflow.test');
    })().then(() => process.exit(0), (e) => { console.error(e); process.exit(3); });
  `;
  const child = await runChild(process.execPath, ['-e', client, 'procflow-dns-client']);
  assert.equal(child.code, 0, child.stderr);

  type Doc = Record<string, unknown> & { qname?: string; proto?: string; process_id?: string; servers?: { ip: string; port: number }[]; rrsets?: { name: string; type: string; rdata: string[] }[] };
  const docs = (): Doc[] => agent.output().split('\n').filter((l) => l.startsWith('{"@timestamp"')).map((l) => JSON.parse(l) as Doc);
  const dnsLog = (qname: string, pid: number, proto = 'udp') => waitFor(`the DNS log of ${qname} over ${proto}`, async () => docs().find((d) => d.qname === qname && d.process_id === String(pid) && d.proto === proto), 60_000);
  const flow = await waitFor('the flow with its names', async () => docs().find((d) => d.dest_ip === '127.0.0.77' && d.dest_port === port && d.reporter === 'src'), 60_000);
  assert.equal(flow.process_id, String(child.pid));
  assert.deepEqual(flow.dest_domains, ['svc.procflow.test', 'edge.procflow.test']);

  const svc = await dnsLog('svc.procflow.test', child.pid);
  assert.equal(svc.process_name, process.execPath);
  assert.ok((svc.process_args as string[])[0]!.includes('procflow-dns-client'), 'the DNS log carries the arguments');
  assert.ok(svc.process_exec_id);
  assert.deepEqual([svc.qtype, svc.qclass, svc.rcode], ['A', 'IN', 'NoError']);
  assert.deepEqual(svc.servers!.map((x) => [x.ip, x.port]), [['127.0.0.1', server.port]]);
  assert.deepEqual(svc.rrsets!.map((r) => [r.name, r.type, r.rdata]), [['edge.procflow.test', 'A', ['127.0.0.77']], ['svc.procflow.test', 'CNAME', ['edge.procflow.test']]]);
  assert.ok((svc.latency_count as number) >= 1 && (svc.latency_max as number) > 0, 'the latency is measured');
  assert.equal(svc.client_ip, '127.0.0.1');

  const v6 = await dnsLog('v6.procflow.test', child.pid);
  assert.deepEqual([v6.qtype, v6.rrsets], ['AAAA', [{ name: 'v6.procflow.test', class: 'IN', type: 'AAAA', rdata: ['::1'] }]]);
  const missing = await dnsLog('missing.procflow.test', child.pid);
  assert.deepEqual([missing.rcode, missing.rrsets], ['NXDomain', []]);
  // Over UDP the answer was truncated (TC, no records); the resolver asked again over TCP.
  const truncated = await dnsLog('big.procflow.test', child.pid, 'udp');
  assert.deepEqual(truncated.rrsets, []);
  const overTcp = await dnsLog('big.procflow.test', child.pid, 'tcp');
  assert.equal(overTcp.rrsets![0]!.rdata.length, 60);
  assert.deepEqual(overTcp.servers!.map((x) => x.port), [server.port]);

  // Through the stub: the client's query to 127.0.0.53 is the client's; the stub's own upstream query is the stub's.
  const asked = await dnsLog('stub.procflow.test', child.pid);
  assert.deepEqual(asked.servers!.map((x) => x.ip), ['127.0.0.53']);
  assert.deepEqual(asked.rrsets!.map((r) => r.rdata), [['127.0.0.78']]);
  const relayed = await dnsLog('stub.procflow.test', stub.child.pid!);
  assert.deepEqual(relayed.servers!.map((x) => x.ip), ['127.0.0.1']);
  assert.equal(docs().filter((d) => d.qname === 'stub.procflow.test' && d.process_id === String(child.pid)).length, 1, 'the client asked the stub once, and the stub\'s upstream query is not counted as the client\'s');
});
