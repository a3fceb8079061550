// Lookups through local resolvers' unix sockets, on the real kernel, with real clients: glibc's
// getent asks a real nscd (getaddrinfo and gethostbyname, the latter read back with readv), and
// asks through the real nss-resolve module a server speaking systemd-resolved's varlink service.
// Each flavour of the dns_local hook this kernel has (fentry, kprobe, syscall tracepoints) hands
// over the asking process's requests and replies, and nothing from the resolver's side; the agent
// turns them into DNS logs that name the asking process, and names flows from their answers.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import type { DnsEvent } from '../../native/index.js';
import { LocalResolverStreams } from '../../agent/dns/local-resolver.js';
import { notApplicable, skipOrFail } from '../support/environment.js';
import { openHarness, requireKernel, runChild, type Harness } from '../support/kernel.js';
import { startDnsServer } from '../support/dns-server.js';
import { localResolversMissing, startResolverNamespace, type ResolverNamespace, type VarlinkZone } from '../support/local-resolvers.js';

/** Where nscd's upstream DNS server listens (resolv.conf cannot name a port: 53). */
const UPSTREAM = '127.0.0.61';
const ZONE = { 'hello.procflow.test': [{ type: 'A' as const, address: '127.0.0.78' }] };
const VARLINK_ZONE: VarlinkZone = { 'web.procflow.test': { canonical: 'edge.procflow.test', addresses: ['127.0.0.79'] } };
const GETENT = '/usr/bin/getent';

interface Resolvers {
  nscd: ResolverNamespace;
  varlink: ResolverNamespace;
}

/** The DNS server, nscd and the varlink server, each stopped after the test; null when they cannot run. */
async function startResolvers(t: TestContext): Promise<Resolvers | null> {
  const missing = localResolversMissing();
  if (missing) {
    skipOrFail(t, missing);
    return null;
  }
  const dns = await startDnsServer(ZONE, UPSTREAM, 53);
  t.after(() => dns.close());
  const nscd = await startResolverNamespace('nscd', { dnsServer: UPSTREAM });
  t.after(() => nscd.stop());
  const varlink = await startResolverNamespace('varlink', { zone: VARLINK_ZONE });
  t.after(() => varlink.stop());
  return { nscd, varlink };
}

const localOf = (h: Harness, pid: number): DnsEvent[] => (h.events as DnsEvent[]).filter((e) => e.kind === 'dns' && e.pid === pid && e.channel !== 'net');

/** The messages the agent makes of one process's events. */
function messagesOf(events: DnsEvent[]) {
  const streams = new LocalResolverStreams();
  return events.flatMap((e) => streams.take(e, e.channel as 'nscd' | 'varlink')).map((m) => m.message);
}

const answers = (m: { answers: { name: string; type: number; data?: string }[] }) => m.answers.map((r) => [r.name, r.type, r.data]);

for (const mode of ['fentry', 'kprobe', 'tracepoint'] as const) {
  test(`dns_local as ${mode}: requests and replies of nscd and varlink lookups, with the asking process's pid`, async (t) => {
    if (!requireKernel(t)) return;
    const r = await startResolvers(t);
    if (!r) return;
    const h = openHarness(t, { hookMode: mode, dnsLocal: 'syscalls' });
    const hook = h.collector.hooks.find((x) => x.hook === 'dns_local')!;
    if (hook.via !== mode) return notApplicable(t, `dns_local cannot attach as ${mode} here: ${hook.reason}`);

    const ai = await r.nscd.run([GETENT, 'ahosts', 'hello.procflow.test']);
    assert.equal(ai.code, 0, ai.stderr);
    assert.match(ai.stdout, /127\.0\.0\.78/);
    const byName = await r.nscd.run([GETENT, 'hosts', 'hello.procflow.test']);
    assert.equal(byName.code, 0, byName.stderr);
    const web = await r.varlink.run([GETENT, 'ahosts', 'web.procflow.test']);
    assert.equal(web.code, 0, web.stderr);
    assert.match(web.stdout, /127\.0\.0\.79 +STREAM edge\.procflow\.test/);
    const nx = await r.varlink.run([GETENT, 'ahosts', 'nx.procflow.test']);
    assert.equal(nx.code, 2, 'getent: not found');

    for (const c of [ai, byName, web, nx]) await h.waitFor(`the reply to ${c.pid}`, () => localOf(h, c.pid).some((e) => e.direction === 'response'));

    // getaddrinfo through nscd: one GETAI request, its reply with the address.
    const aiEvents = localOf(h, ai.pid);
    assert.ok(aiEvents.every((e) => e.channel === 'nscd' && e.proto === 'unix' && e.comm === 'getent'));
    // glibc first asks for nscd's shared-memory map (GETFDHST, not a lookup), then sends GETAI on a connection of its own.
    const aiQuery = aiEvents.find((e) => e.direction === 'query' && e.payload.readInt32LE(4) === 14)!;
    assert.equal(aiQuery.payload.readInt32LE(0), 2, 'nscd protocol version 2');
    assert.ok(aiEvents.some((e) => e.direction === 'response' && e.cookie === aiQuery.cookie), 'the reply on the same connection');
    const aiMessages = messagesOf(aiEvents);
    assert.deepEqual(aiMessages.map((m) => [m.qr, m.questions[0]!.name]), [[false, 'hello.procflow.test'], [true, 'hello.procflow.test']]);
    assert.deepEqual(answers(aiMessages[1]!), [['hello.procflow.test', 1, '127.0.0.78']]);

    // gethostbyname through nscd: the reply is read with readv; its addresses are in the third buffer.
    const hostMessages = messagesOf(localOf(h, byName.pid)).filter((m) => m.qr);
    assert.ok(hostMessages.some((m) => m.questions[0]!.type === 1 && answers(m).some(([, type, data]) => type === 1 && data === '127.0.0.78')),
      `gethostbyname's A reply carries the address: ${JSON.stringify(hostMessages.map(answers))}`);

    // nss-resolve over varlink: the canonical name and the address; an unknown name is NXDOMAIN.
    const webMessages = messagesOf(localOf(h, web.pid));
    assert.ok(localOf(h, web.pid).every((e) => e.channel === 'varlink'));
    const webReply = webMessages.find((m) => m.qr)!;
    assert.deepEqual(answers(webReply), [['web.procflow.test', 5, 'edge.procflow.test'], ['edge.procflow.test', 1, '127.0.0.79']]);
    assert.equal(messagesOf(localOf(h, nx.pid)).find((m) => m.qr)!.rcode, 3);

    // The resolvers' own sides of these conversations are not anyone's lookups.
    for (const pid of [r.nscd.resolverPid, r.varlink.resolverPid]) assert.equal(localOf(h, pid).length, 0, `nothing from resolver ${pid}`);
  });
}

test('through the agent: DNS logs of lookups via nscd and systemd-resolved name the process that asked, and flows get the names', async (t) => {
  if (!requireKernel(t)) return;
  const r = await startResolvers(t);
  if (!r) return;
  const sink = createServer((s) => s.on('data', () => s.end()).on('error', () => {}));
  await new Promise<void>((res) => sink.listen(0, '127.0.0.79', res));
  t.after(() => sink.close());
  const port = (sink.address() as AddressInfo).port;
  const { CLI, start, stop, waitFor } = await import('../support/processes.js');
  const { freePort } = await import('../../common/net.js');
  const agent = start([CLI, 'agent', '--output', 'ndjson', '--flush-interval', '1s', '--listen', `127.0.0.1:${await freePort()}`, '--dns-local', 'syscalls', '--log-level', 'info']);
  t.after(() => stop(agent));
  await waitFor('the agent', async () => {
    if (agent.child.exitCode !== null) throw new Error(`the agent exited: ${agent.output()}`);
    return agent.output().includes('agent: running') ? true : undefined;
  }, 90_000);
  const hook = agent.output().split('\n').filter((l) => l.includes('"hook":"dns_local"')).map((l) => JSON.parse(l) as { via: string; reason: string })[0];
  if (!hook || hook.via === 'none') return notApplicable(t, `dns_local is not attached here: ${hook?.reason ?? 'no report'}`);

  const ai = await r.nscd.run([GETENT, 'ahosts', 'hello.procflow.test']);
  assert.equal(ai.code, 0, ai.stderr);
  const web = await r.varlink.run([GETENT, 'ahosts', 'web.procflow.test']);
  assert.equal(web.code, 0, web.stderr);
  // Another process connects to the address: the node's name cache learnt it from the varlink reply.
  const client = await runChild(process.execPath, ['-e', `const c = require('node:net').connect(${port}, '127.0.0.79', () => c.end('hi')); c.on('close', () => {});`]);
  assert.equal(client.code, 0, client.stderr);

  type Doc = Record<string, unknown> & { qname?: string; proto?: string; process_id?: string; servers?: { name: string; ip?: string }[]; rrsets?: { name: string; type: string; rdata: string[] }[] };
  const docs = (): Doc[] => agent.output().split('\n').filter((l) => l.startsWith('{"@timestamp"')).map((l) => JSON.parse(l) as Doc);
  const dnsLog = (qname: string, pid: number, proto: string) => waitFor(`the DNS log of ${qname} from ${pid} over ${proto}`, async () => docs().find((d) => d.qname === qname && d.process_id === String(pid) && d.proto === proto), 60_000);

  const viaNscd = await dnsLog('hello.procflow.test', ai.pid, 'unix');
  assert.equal(viaNscd.process_name, GETENT);
  assert.deepEqual(viaNscd.process_args, ['ahosts hello.procflow.test']);
  assert.deepEqual([viaNscd.qtype, viaNscd.rcode, viaNscd.client_ip], ['A+AAAA', 'NoError', undefined]);
  assert.deepEqual(viaNscd.servers!.map((s) => [s.name, s.ip]), [['nscd', undefined]]);
  assert.deepEqual(viaNscd.rrsets!.map((x) => [x.name, x.type, x.rdata]), [['hello.procflow.test', 'A', ['127.0.0.78']]]);
  assert.ok((viaNscd.latency_count as number) === 1 && (viaNscd.latency_max as number) > 0, 'request to reply latency');
  // nscd's own upstream query is nscd's, over UDP to the DNS server.
  const upstream = await dnsLog('hello.procflow.test', r.nscd.resolverPid, 'udp');
  assert.match(String(upstream.process_name), /nscd$/);
  assert.deepEqual(upstream.servers!.map((s) => s.ip), [UPSTREAM]);

  const viaVarlink = await dnsLog('web.procflow.test', web.pid, 'unix');
  assert.equal(viaVarlink.process_name, GETENT);
  assert.deepEqual(viaVarlink.servers!.map((s) => s.name), ['systemd-resolved']);
  assert.deepEqual(viaVarlink.rrsets!.map((x) => [x.name, x.type, x.rdata]), [['edge.procflow.test', 'A', ['127.0.0.79']], ['web.procflow.test', 'CNAME', ['edge.procflow.test']]]);
  const flow = await waitFor('the flow to the looked-up address', async () => docs().find((d) => d.dest_ip === '127.0.0.79' && d.dest_port === port && d.reporter === 'src'), 60_000);
  assert.equal(flow.process_id, String(client.pid));
  assert.deepEqual(flow.dest_domains, ['web.procflow.test', 'edge.procflow.test']);
});
