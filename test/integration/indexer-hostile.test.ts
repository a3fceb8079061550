// The indexer against what an attacker on the network (or a broken client) sends, with the real
// Elasticsearch behind it: TLS and client certificates made by a throwaway CA, rotating tokens,
// guessing, nesting, huge lines, slow senders, connection floods, timestamps outside the kept
// window and ids that collide.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { connect, type Socket } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dailyIndex, type FlowLog } from '../../schema/index.js';
import type { Indexer, IndexerOptions } from '../../indexer/index.js';
import type { TestCluster } from '../support/elasticsearch.js';
import { createTestCa, type TestCa } from '../support/tls.js';
import { TOKEN, clusterSuite, get, metricLines, ndjson, post, privateDay, sampleFlow, startTestIndexer, until } from './indexer-harness.js';

describe('indexer under hostile input', () => {
  let ca: TestCa;
  const dir = mkdtempSync(join(tmpdir(), 'procflow-hostile-'));
  const day = privateDay();
  const flowIndex = dailyIndex('flows', day.getTime());
  const suite = clusterSuite(day);
  const { need, cleanup } = suite;
  let cluster: TestCluster;

  before(() => {
    ca = createTestCa();
    cluster = suite.cluster();
  });
  after(() => {
    ca?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (o: Partial<IndexerOptions> = {}): Promise<Indexer> => {
    const ix = await startTestIndexer(cluster.url, o);
    cleanup.push(() => ix.close());
    return ix;
  };
  const stored = async (id: string): Promise<FlowLog | undefined> => {
    const r = await cluster.client.get<FlowLog>({ index: flowIndex, id }, { ignore: [404] });
    return r.found ? r._source : undefined;
  };
  const count = async (index: string) => {
    await cluster.client.indices.refresh({ index, ignore_unavailable: true });
    return (await cluster.client.count({ index, ignore_unavailable: true })).count;
  };
  let seq = 50_000;
  const flows = (n: number, over: Record<string, unknown> = {}) => Array.from({ length: n }, () => sampleFlow(day, seq++, over));

  it('serves https with the configured certificate, refuses clients without one under mTLS, and names the client in metrics', async (t) => {
    if (!need(t)) return;
    const server = ca.server();
    const agentCert = ca.client('node-a.agents');
    const ix = await start({ tls_cert_file: server.certFile, tls_key_file: server.keyFile, tls_client_ca_file: ca.caFile });
    assert.match(ix.url, /^https:/);
    const ok = await post(ix.url, '/v1/flows', ndjson(flows(3)), { tls: { ca: ca.ca, cert: agentCert.cert, key: agentCert.key } });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { accepted: 3 });
    await assert.rejects(post(ix.url, '/v1/flows', ndjson(flows(1)), { tls: { ca: ca.ca } }), 'no client certificate: the handshake fails');
    const other = createTestCa('another CA');
    cleanup.push(async () => other.remove());
    const stranger = other.client('node-a.agents');
    await assert.rejects(post(ix.url, '/v1/flows', ndjson(flows(1)), { tls: { ca: ca.ca, cert: stranger.cert, key: stranger.key } }), 'a certificate from another CA is refused');
    await assert.rejects(post(ix.url.replace('https:', 'http:'), '/v1/flows', ndjson(flows(1))), 'plain http to the TLS port gets nothing');
    const metrics = await post(ix.url, '/v1/flows', ndjson(flows(1)), { tls: { ca: ca.ca, cert: agentCert.cert, key: agentCert.key } });
    assert.equal(metrics.status, 200);
    const text = await new Promise<string>((resolve, reject) => {
      httpsRequest(`${ix.url}/metrics`, { ca: ca.ca, cert: agentCert.cert, key: agentCert.key }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      }).on('error', reject).end();
    });
    assert.match(metricLines(text, /tls_client_requests_total/), /client="node-a.agents"\} 2/);
    assert.match(metricLines(text, /connections_refused_total/), /reason="tls_handshake"\} [1-9]/);
  });

  it('serves a renewed certificate without a restart', async (t) => {
    if (!need(t)) return;
    const first = ca.server('first.test');
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    const ix = await start({ tls_cert_file: certFile, tls_key_file: keyFile });
    const peerCn = () =>
      new Promise<string>((resolve, reject) => {
        const req = httpsRequest(`${ix.url}/healthz`, { ca: ca.ca, agent: false }, (res) => {
          resolve(String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject.CN));
          res.resume();
        });
        req.on('error', reject).end();
      });
    assert.equal(await peerCn(), 'first.test');
    const second = ca.server('second.test');
    // Renewals replace the files one after the other; the old pair is served until both match.
    copyFileSync(second.certFile, certFile);
    await sleep(2500);
    assert.equal(await peerCn(), 'first.test', 'a certificate without its key is not used');
    copyFileSync(second.keyFile, keyFile);
    await until('the renewed certificate', async () => (await peerCn()) === 'second.test', 10_000);
  });

  it('takes every token of the token file, and rotates them when the file changes', async (t) => {
    if (!need(t)) return;
    const file = join(dir, 'tokens');
    writeFileSync(file, '# agents\nold-token-aaaa\nnew-token-bbbb\n');
    const ix = await start({ token: '', token_file: file });
    for (const token of ['old-token-aaaa', 'new-token-bbbb']) {
      const r = await post(ix.url, '/v1/flows', ndjson(flows(1)), { token });
      assert.equal(r.status, 200, `${token}: ${r.text}`);
    }
    writeFileSync(file, 'new-token-bbbb\n');
    await until('the old token refused', async () => (await post(ix.url, '/v1/flows', ndjson(flows(1)), { token: 'old-token-aaaa' })).status === 401, 10_000);
    assert.equal((await post(ix.url, '/v1/flows', ndjson(flows(1)), { token: 'new-token-bbbb' })).status, 200);
    writeFileSync(file, '# emptied by mistake\n');
    await sleep(2500);
    assert.equal((await post(ix.url, '/v1/flows', ndjson(flows(1)), { token: 'new-token-bbbb' })).status, 200, 'a token file without tokens is refused; the previous ones stay');
  });

  it('throttles an address that keeps failing to authenticate, without comparing its tokens', async (t) => {
    if (!need(t)) return;
    const ix = await start({ auth_failures_per_minute: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post(ix.url, '/v1/flows', ndjson(flows(1)), { token: `guess-${i}` })).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    const locked = await post(ix.url, '/v1/flows', ndjson(flows(1)));
    assert.equal(locked.status, 429, 'even the right token waits: a throttled address learns nothing');
    assert.ok(Number(locked.headers['retry-after']) >= 1, 'Retry-After says how long');
    const m = metricLines((await get(ix.url, '/metrics')).text, /auth_failures_total/);
    assert.match(m, /outcome="refused"\} 5/);
    assert.match(m, /outcome="throttled"\} 4/);
  });

  it('counts wrong tokens sent to /readyz as failed authentications, so readiness is no token oracle', async (t) => {
    if (!need(t)) return;
    const ix = await start({ auth_failures_per_minute: 3, es_url: 'http://127.0.0.1:9' });
    for (let i = 0; i < 3; i++) {
      const r = await get(ix.url, '/readyz', { token: `guess-${i}` });
      assert.deepEqual(JSON.parse(r.text), { ready: false, reason: 'elasticsearch_unreachable' }, 'a wrong token learns nothing');
    }
    const throttled = await get(ix.url, '/readyz', { token: TOKEN });
    assert.equal(JSON.parse(throttled.text).detail, undefined, 'a throttled address is not told, even with the right token');
    assert.equal((await post(ix.url, '/v1/flows', ndjson(flows(1)))).status, 429, 'the guesses at /readyz count for ingest too');
  });

  it('refuses deep nesting and oversized documents while reading, and stays responsive', async (t) => {
    if (!need(t)) return;
    const ix = await start({ max_nesting_depth: 16, max_document_size: 64 * 1024, max_body_size: 16 * 1024 * 1024 });
    const nested = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const deep = await post(ix.url, '/v1/flows', `${JSON.stringify(flows(1)[0])}\n{"a":${nested}}\n`);
    assert.equal(deep.status, 400, deep.text);
    assert.equal(deep.json.code, 'too_deep');
    assert.equal(deep.json.line, 2);
    // Brackets inside strings are not nesting.
    const args = await post(ix.url, '/v1/flows', ndjson(flows(1, { process_args: ['[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['] })));
    assert.equal(args.status, 200, args.text);
    // One 15 MiB line: refused once its first 64 KiB are in, never joined in memory.
    const started = Date.now();
    const huge = await post(ix.url, '/v1/flows', `{"a":"${'x'.repeat(15 * 1024 * 1024)}"}\n`, { chunked: true });
    assert.equal(huge.status, 413, huge.text);
    assert.equal(huge.json.code, 'document_too_large');
    assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
    assert.equal((await post(ix.url, '/v1/flows', ndjson(flows(2)))).status, 200, 'the next batch is served');
  });

  it('cuts off slow senders, which hold no processing slot meanwhile', async (t) => {
    if (!need(t)) return;
    const ix = await start({ max_in_flight_requests: 2, min_body_rate: 1024, headers_timeout: 1000 });
    const { port } = new URL(ix.url);
    const open = (): Socket => connect(Number(port), '127.0.0.1');
    // Three valid-token uploads trickling a byte a second.
    const slow = [0, 1, 2].map(() => {
      const s = open();
      s.write(`POST /v1/flows HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ncontent-length: 100000\r\n\r\n`);
      const timer = setInterval(() => s.write('{'), 1000);
      let answer = '';
      s.on('data', (d: Buffer) => (answer += d.toString()));
      const closed = new Promise<string>((resolve) => s.on('close', () => (clearInterval(timer), resolve(answer))));
      s.on('error', () => {});
      return closed;
    });
    await sleep(1500);
    const meanwhile = await post(ix.url, '/v1/flows', ndjson(flows(3)));
    assert.equal(meanwhile.status, 200, `others are served while slow uploads trickle: ${meanwhile.text}`);
    const answers = await Promise.all(slow);
    for (const a of answers) assert.match(a, /^HTTP\/1.1 408[\s\S]*body_too_slow/);
    // Headers that never end are cut off too.
    const s = open();
    s.write('POST /v1/flows HTTP/1.1\r\nhost: x\r\n');
    const t0 = Date.now();
    await new Promise((resolve) => s.on('close', resolve).on('error', () => {}));
    assert.ok(Date.now() - t0 < 4000, `headers timeout closed it after ${Date.now() - t0} ms`);
    assert.match(metricLines((await get(ix.url, '/metrics')).text, /slow_clients_total/), /reason="body_too_slow"\} 3/);
  });

  it('caps the connections one address may hold', async (t) => {
    if (!need(t)) return;
    const ix = await start({ max_connections_per_client: 5, headers_timeout: 10_000 });
    const { port } = new URL(ix.url);
    const sockets: Socket[] = [];
    cleanup.push(async () => sockets.forEach((s) => s.destroy()));
    for (let i = 0; i < 5; i++) {
      const s = connect(Number(port), '127.0.0.1');
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      sockets.push(s);
    }
    const extra = connect(Number(port), '127.0.0.1');
    extra.on('error', () => {});
    await new Promise((resolve) => extra.on('close', resolve));
    sockets.forEach((s) => s.destroy());
    await until('the held connections gone', async () => post(ix.url, '/v1/flows', ndjson(flows(1))).then((r) => r.status === 200, () => false));
    assert.match(metricLines((await get(ix.url, '/metrics')).text, /connections_refused_total/), /reason="max_connections_per_client"\} [1-9]/);
  });

  it('dead-letters documents outside the kept time window without making an index for their day', async (t) => {
    if (!need(t)) return;
    const ix = await start({ retention_days: 7, max_future_skew: 5 * 60_000 });
    const now = Date.now();
    const at = (ms: number) => new Date(ms).toISOString();
    // Days no other suite writes to: before the private days, and two days ahead.
    const odd = ['0001-01-01T00:00:00.000Z', '9999-12-31T00:00:00.000Z', '2000-06-01T12:00:00.000Z', at(now + 2 * 86_400_000)].map((ts, i) =>
      sampleFlow(day, 90_000 + i, { '@timestamp': ts, start_time: ts, end_time: ts }),
    );
    const fresh = sampleFlow(day, 90_010, { '@timestamp': at(now), start_time: at(now - 1000), end_time: at(now) });
    const res = await post(ix.url, '/v1/flows', ndjson([...odd, fresh]));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { accepted: 1, dead_lettered: 4 });
    for (const d of odd) {
      const index = dailyIndex('flows', d['@timestamp']);
      assert.equal(await cluster.client.indices.exists({ index }), false, `no index made for ${index}`);
    }
    const dead = dailyIndex('deadletter', now);
    await cluster.client.indices.refresh({ index: dead });
    const found = await cluster.client.search<{ error_type: string; reason: string }>({ index: dead, query: { term: { error_type: 'timestamp_out_of_range' } }, size: 10 });
    assert.ok(found.hits.hits.length >= 4, `dead letters: ${found.hits.hits.length}`);
    assert.match(found.hits.hits[0]!._source!.reason, /retention|max-future-skew/);
    await cluster.client.delete({ index: dailyIndex('flows', now), id: (await import('../../schema/index.js')).flowLogId(fresh) });
  });

  it('never lets a different document replace a stored one, and acknowledges what the cluster holds', async (t) => {
    if (!need(t)) return;
    const ix = await start();
    const { flowLogId } = await import('../../schema/index.js');
    const original = sampleFlow(day, 95_000);
    const id = flowLogId(original);
    assert.deepEqual((await post(ix.url, '/v1/flows', ndjson([original]))).json, { accepted: 1 });
    // A retry of the same document stays idempotent.
    assert.deepEqual((await post(ix.url, '/v1/flows', ndjson([original]))).json, { accepted: 1 });
    // Same id fields, other counters and arguments: refused, the stored one untouched.
    const forged = { ...original, bytes_in: 1, process_args: ['--forged'] };
    assert.equal(flowLogId(forged), id);
    const res = await post(ix.url, '/v1/flows', ndjson([forged]));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { accepted: 0, dead_lettered: 1 });
    assert.equal((await stored(id))?.bytes_in, original.bytes_in);
    assert.deepEqual((await stored(id))?.process_args, original.process_args);
    // Two different documents with one id in one batch: one kept, one dead-lettered; and an
    // identical repeat is counted as a duplicate, not as a second document.
    const a = sampleFlow(day, 95_001);
    const b = { ...a, bytes_out: a.bytes_out + 1 };
    const c = sampleFlow(day, 95_002);
    const before = await count(flowIndex);
    const mixed = await post(ix.url, '/v1/flows', ndjson([a, b, c, c]));
    assert.deepEqual(mixed.json, { accepted: 2, duplicates: 1, dead_lettered: 1 });
    assert.equal((await count(flowIndex)) - before, 2, 'accepted equals what Elasticsearch holds');
    assert.equal((await stored(flowLogId(a)))?.bytes_out, a.bytes_out);
  });

  it('stays under a 512 MiB memory limit while 50 clients send 8 MiB bodies at once', async (t) => {
    if (!need(t)) return;
    const bin = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));
    const child = spawn(process.execPath, ['--max-old-space-size=384', bin, 'indexer', '--listen', '127.0.0.1:0', '--log-level', 'warn'], {
      env: { ...process.env, PROCFLOW_ES_URL: cluster.url, PROCFLOW_TOKEN: TOKEN, PROCFLOW_RETENTION_DAYS: '36500' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.push(async () => void child.kill('SIGKILL'));
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const url = await until('the listening line', async () => /listening on (http:\S+)/.exec(out)?.[1]);
    await until('readiness', async () => (await get(url, '/readyz')).status === 200);
    // Realistic flow logs, 8 MiB each batch: plain bodies and gzip bodies (small on the wire,
    // 8 MiB once inflated) half and half.
    const body = (k: number) => {
      const docs: FlowLog[] = [];
      let size = 0;
      while (size < 8 * 1024 * 1024) {
        const d = sampleFlow(day, 200_000 + k * 20_000 + docs.length, { process_args: ['-s', `https://example.com/${k}/${docs.length}`, 'x'.repeat(200)] });
        size += JSON.stringify(d).length + 1;
        docs.push(d);
      }
      return ndjson(docs);
    };
    const bodies = Array.from({ length: 50 }, (_, k) => body(k));
    const answers = await Promise.all(bodies.map((b, k) => post(url, '/v1/flows', k % 2 ? gzipSync(b) : b, k % 2 ? { headers: { 'content-encoding': 'gzip' } } : {}).catch((e: Error) => ({ status: 0, text: e.message }))));
    const peakKb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
    const statuses = answers.map((a) => a.status);
    t.diagnostic(`answers: ${[200, 503, 0].map((s) => `${s}: ${statuses.filter((x) => x === s).length}`).join(', ')}; peak RSS ${Math.round(peakKb / 1024)} MiB`);
    assert.ok(statuses.every((s) => s === 200 || s === 503), `only 200 and 503: ${statuses.join(',')}`);
    assert.ok(statuses.includes(200), 'some batches get through');
    assert.ok(peakKb < 512 * 1024, `peak RSS ${peakKb} kB`);
    assert.equal(child.exitCode, null, err);
  });

  it('says ready or not to anyone, and why only to an agent', async (t) => {
    if (!need(t)) return;
    // The first URL answers nothing: requests fail over to the second.
    const ix = await start({ es_url: `http://127.0.0.1:9,${cluster.url}` });
    await until('ready through the second URL', async () => (await get(ix.url, '/readyz')).status === 200);
    assert.deepEqual(JSON.parse((await get(ix.url, '/readyz')).text), { ready: true });
    for (let i = 0; i < 3; i++) assert.equal((await post(ix.url, '/v1/flows', ndjson(flows(2)))).status, 200, 'bulk writes fail over too');
  });
});
