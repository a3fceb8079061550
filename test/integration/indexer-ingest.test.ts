// The indexer against the real Elasticsearch: documents land with their deterministic ids in
// their daily indices, a retried batch duplicates nothing, and every kind of bad input gets a
// clear 4xx with nothing from that batch written.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { DNS_CONTRACT, FLOW_CONTRACT, PROCESS_CONTRACT, dailyIndex, type DnsLog, type FlowLog } from '../../schema/index.js';
import { sampleDnsLog } from '../support/documents.js';
import type { Indexer } from '../../indexer/index.js';
import { getTestCluster, type TestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';
import { TOKEN, deleteDayIndices, get, metricLines, ndjson, post, privateDay, sampleFlow, sampleProcessEvent, startTestIndexer } from './indexer-harness.js';

const MAX_BODY = 256 * 1024;

describe('indexer ingest', () => {
  let cluster: TestCluster | undefined;
  let reason = '';
  let indexer: Indexer;
  const day = privateDay();
  const flowIndex = dailyIndex('flows', day.getTime());

  before(async () => {
    const res = await getTestCluster();
    if (!res.cluster) return void (reason = res.reason);
    cluster = res.cluster;
    indexer = await startTestIndexer(cluster.url, { max_body_size: MAX_BODY, max_batch_docs: 150 });
  });
  after(async () => {
    await indexer?.close();
    if (cluster) {
      await deleteDayIndices(cluster.client, day);
      await cluster.stop();
    }
  });

  const need = (t: TestContext): boolean => {
    if (!cluster) skipOrFail(t, reason);
    return cluster !== undefined;
  };

  const exists = async (index: string, id: string) => (await cluster!.client.exists({ index, id }));
  const count = async (index: string) => {
    await cluster!.client.indices.refresh({ index, ignore_unavailable: true });
    return (await cluster!.client.count({ index, ignore_unavailable: true })).count;
  };

  it('is ready once the templates are installed', async (t) => {
    if (!need(t)) return;
    const ready = await get(indexer.url, '/readyz');
    assert.equal(ready.status, 200, ready.text);
    assert.equal((await get(indexer.url, '/healthz')).status, 200);
  });

  it('indexes a gzip batch of flows with deterministic ids; the same batch again duplicates nothing', async (t) => {
    if (!need(t)) return;
    const docs = Array.from({ length: 120 }, (_, i) => sampleFlow(day, i));
    const first = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json, { accepted: 120 });
    assert.equal(await count(flowIndex), 120);
    for (const d of [docs[0]!, docs[119]!]) assert.ok(await exists(flowIndex, FLOW_CONTRACT.id(d)), 'document under its deterministic id');

    const again = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(again.status, 200, again.text);
    assert.equal(await count(flowIndex), 120, 'a retried batch overwrites instead of duplicating');
    // The same batch as agents compress it by default: the same documents under the same ids.
    const asZstd = await post(indexer.url, '/v1/flows', zstdCompressSync(ndjson(docs)), { headers: { 'content-encoding': 'zstd' } });
    assert.equal(asZstd.status, 200, asZstd.text);
    assert.deepEqual(asZstd.json, { accepted: 120 });
    assert.equal(await count(flowIndex), 120, 'the zstd batch is the gzip batch again');

    const got = await cluster!.client.get<FlowLog>({ index: flowIndex, id: FLOW_CONTRACT.id(docs[7]!) });
    assert.deepEqual(got._source, docs[7], 'the document is stored exactly as sent');
  });

  it('takes a batch sent again as stored, though a logsdb index gives its dates and addresses back written differently', async (t) => {
    if (!need(t)) return;
    // Whole seconds, so the dates can be sent without milliseconds; an IPv4-mapped source, an upper-case IPv6 destination, a null.
    const docs = Array.from({ length: 5 }, (_, i) => {
      const d = sampleFlow(day, 40_000 + i * 1000);
      const end = d.end_time.replace('.000Z', 'Z');
      return { ...d, '@timestamp': end, end_time: end, source_ip: '::ffff:10.1.2.3', dest_ip: '2001:DB8::1', process_exec_id: null } as unknown as FlowLog;
    });
    const first = await post(indexer.url, '/v1/flows', ndjson(docs));
    assert.deepEqual(first.json, { accepted: 5 }, first.text);
    const again = await post(indexer.url, '/v1/flows', ndjson(docs));
    assert.deepEqual(again.json, { accepted: 5 }, `the stored copies are the same documents, not conflicts: ${again.text}`);
    const settings = (await cluster!.client.indices.getSettings({ index: flowIndex, flat_settings: true, include_defaults: true }))[flowIndex]!;
    const source = String(settings.settings?.['index.mapping.source.mode'] ?? settings.defaults?.['index.mapping.source.mode'] ?? 'stored').toLowerCase();
    const got = (await cluster!.client.get<FlowLog>({ index: flowIndex, id: FLOW_CONTRACT.id(docs[2]!) }))._source!;
    if (source === 'synthetic') {
      assert.equal(got.source_ip, '10.1.2.3');
      assert.equal(got.dest_ip, '2001:db8::1');
      assert.equal(got.end_time, docs[2]!.end_time.replace('Z', '.000Z'));
      assert.ok(!('process_exec_id' in got));
    } else {
      assert.deepEqual(got, docs[2]);
    }
    assert.deepEqual(FLOW_CONTRACT.canonical(got), FLOW_CONTRACT.canonical(docs[2]));
  });

  it('indexes process exec and exit events into the daily process index', async (t) => {
    if (!need(t)) return;
    const docs = [sampleProcessEvent(day, 1, 'process_exec'), sampleProcessEvent(day, 1, 'process_exit')];
    const res = await post(indexer.url, '/v1/process-events', ndjson(docs));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { accepted: 2 });
    const index = dailyIndex('process', docs[0]!['@timestamp']);
    for (const d of docs) assert.ok(await exists(index, PROCESS_CONTRACT.id(d)));
    assert.notEqual(PROCESS_CONTRACT.id(docs[0]!), PROCESS_CONTRACT.id(docs[1]!));
  });

  it('indexes DNS logs into the daily DNS index, the answers searchable under their ECS names; a bad one is refused with its field', async (t) => {
    if (!need(t)) return;
    const at = (n: number) => new Date(day.getTime() + 10_800_000 + n).toISOString();
    const docs = [0, 1, 2].map((n) => sampleDnsLog({ '@timestamp': at(n), end_time: at(n), start_time: at(n - 15_000), qname: `host${n}.example.com`, rcode: n === 2 ? 'NXDomain' : 'NoError' }));
    const res = await post(indexer.url, '/v1/dns-logs', ndjson(docs), { gzip: true });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { accepted: 3 });
    const index = dailyIndex('dns', docs[0]!['@timestamp']);
    for (const d of docs) assert.ok(await exists(index, DNS_CONTRACT.id(d)));
    const got = await cluster!.client.get<DnsLog>({ index, id: DNS_CONTRACT.id(docs[1]!) });
    assert.deepEqual(got._source, docs[1]);
    await cluster!.client.indices.refresh({ index });
    const ecs = await cluster!.client.count({ index, query: { bool: { filter: [{ term: { 'dns.question.name': 'host2.example.com' } }, { term: { 'dns.response_code': 'NXDomain' } }, { term: { 'dns.answers.data': '93.184.215.14' } }, { term: { 'server.ip': '10.96.0.10' } }, { term: { 'process.executable': '/usr/bin/curl' } }] } } });
    assert.equal(ecs.count, 1);
    const bad = await post(indexer.url, '/v1/dns-logs', ndjson([{ ...docs[0]!, servers: [{ ip: 'resolver' }] }]));
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /servers/);
    const wrongRoute = await post(indexer.url, '/v1/flows', ndjson([docs[0]!]));
    assert.equal(wrongRoute.status, 400, 'a DNS log is not a flow log');
  });

  it('keeps documents byte-exact across chunk boundaries, CRLF line ends and a missing final newline', async (t) => {
    if (!need(t)) return;
    // Multi-byte characters in long lines, so chunk edges (64 KiB on the wire, 16 KiB out of
    // zlib) fall inside characters and lines.
    const docs = Array.from({ length: 60 }, (_, i) => sampleFlow(day, 20_000 + i, { process_args: ['--motd', `→ é 日本語 ${'ß'.repeat(500 + i)} 🚀`] }));
    const crlf = docs.map((d) => JSON.stringify(d)).join('\r\n');
    for (const gzip of [false, true]) {
      const res = await post(indexer.url, '/v1/flows', crlf, { gzip, chunked: !gzip });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { accepted: 60 });
    }
    for (const d of [docs[0]!, docs[33]!, docs[59]!]) {
      const got = await cluster!.client.get<FlowLog>({ index: flowIndex, id: FLOW_CONTRACT.id(d) });
      assert.deepEqual(got._source, d);
    }
  });

  it('answers a line that is not UTF-8 with 400 and its number', async (t) => {
    if (!need(t)) return;
    const good = Buffer.from(`${JSON.stringify(sampleFlow(day, 30_000))}\n`);
    const bad = Buffer.concat([Buffer.from('{"host":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
    const res = await post(indexer.url, '/v1/flows', Buffer.concat([good, bad]));
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.code, 'invalid_utf8');
    assert.equal(res.json.line, 2);
  });

  it('answers malformed NDJSON with 400 and the line number, writing nothing', async (t) => {
    if (!need(t)) return;
    const good = [sampleFlow(day, 5001), sampleFlow(day, 5002)];
    const body = `${JSON.stringify(good[0])}\n\n${JSON.stringify(good[1])}\n{"host": "x",\n`;
    const res = await post(indexer.url, '/v1/flows', body);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.line, 4, 'blank lines count');
    assert.equal(res.json.code, 'invalid_json');
    assert.match(String(res.json.error), /^line 4: malformed JSON/);
    for (const d of good) assert.equal(await exists(flowIndex, FLOW_CONTRACT.id(d)), false, 'nothing from a refused batch is written');
  });

  it('names the missing required field and the field with the wrong type', async (t) => {
    if (!need(t)) return;
    const { host: _host, ...noHost } = sampleFlow(day, 6001);
    const missing = await post(indexer.url, '/v1/flows', ndjson([sampleFlow(day, 6000), noHost]));
    assert.equal(missing.status, 400, missing.text);
    assert.equal(missing.json.line, 2);
    assert.equal(missing.json.code, 'schema');
    assert.match(String(missing.json.reason), /missing required field "host"/);

    const wrong = await post(indexer.url, '/v1/flows', ndjson([sampleFlow(day, 6002, { bytes_in: 'lots' })]));
    assert.equal(wrong.status, 400, wrong.text);
    assert.match(String(wrong.json.reason), /field "bytes_in" must be an integer/);

    const badIp = await post(indexer.url, '/v1/flows', ndjson([sampleFlow(day, 6003, { source_ip: '999.1.1.1' })]));
    assert.equal(badIp.status, 400);
    assert.match(String(badIp.json.reason), /source_ip/);

    const unknown = await post(indexer.url, '/v1/process-events', ndjson([{ ...sampleProcessEvent(day, 9, 'process_exec'), extra: 1 }]));
    assert.equal(unknown.status, 400);
    assert.match(String(unknown.json.reason), /unknown field "extra"/);
    assert.equal(await exists(flowIndex, FLOW_CONTRACT.id(sampleFlow(day, 6000))), false);
  });

  it('refuses bodies over the limit: by Content-Length, while streaming, and after decompression', async (t) => {
    if (!need(t)) return;
    const big = ndjson(Array.from({ length: 1000 }, (_, i) => sampleFlow(day, 7000 + i)));
    assert.ok(big.length > MAX_BODY);
    const byLength = await post(indexer.url, '/v1/flows', big);
    assert.equal(byLength.status, 413, byLength.text);
    assert.equal(byLength.json.code, 'body_too_large');

    // One line longer than the limit, sent without Content-Length: caught while streaming.
    const huge = ndjson([sampleFlow(day, 7000, { process_args: [Array.from({ length: MAX_BODY }, () => 'a').join('')] })]);
    const streamed = await post(indexer.url, '/v1/flows', huge, { chunked: true });
    assert.equal(streamed.status, 413, streamed.text);
    assert.equal(streamed.json.code, 'body_too_large');

    // A gzip bomb: a few KB on the wire, far over the limit once inflated.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    assert.ok(bomb.length < MAX_BODY);
    const inflated = await post(indexer.url, '/v1/flows', bomb, { headers: { 'content-encoding': 'gzip' } });
    assert.equal(inflated.status, 413, inflated.text);
    assert.match(String(inflated.json.error), /after gzip decompression/);

    const tooMany = await post(indexer.url, '/v1/flows', ndjson(Array.from({ length: 151 }, (_, i) => sampleFlow(day, 8000 + i))), { gzip: true });
    assert.equal(tooMany.status, 413, tooMany.text);
    assert.equal(tooMany.json.code, 'too_many_documents');
    assert.equal(await exists(flowIndex, FLOW_CONTRACT.id(sampleFlow(day, 7000))), false);
    assert.equal(await exists(flowIndex, FLOW_CONTRACT.id(sampleFlow(day, 8000))), false);

    assert.equal((await get(indexer.url, '/healthz')).status, 200, 'still alive after all that');
  });

  it('answers a wrong or missing token with 401', async (t) => {
    if (!need(t)) return;
    const body = ndjson([sampleFlow(day, 9000)]);
    const missing = await post(indexer.url, '/v1/flows', body, { token: null });
    assert.equal(missing.status, 401);
    assert.match(String(missing.headers['www-authenticate']), /^Bearer/);
    const wrong = await post(indexer.url, '/v1/flows', body, { token: `${TOKEN}x` });
    assert.equal(wrong.status, 401);
    const basic = await post(indexer.url, '/v1/flows', body, { token: null, headers: { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` } });
    assert.equal(basic.status, 401);
    assert.equal(await exists(flowIndex, FLOW_CONTRACT.id(sampleFlow(day, 9000))), false);
  });

  it('answers gzip or zstd that is not, a zstd frame too wide, an empty body and an unknown encoding with a clear 4xx', async (t) => {
    if (!need(t)) return;
    const notGzip = await post(indexer.url, '/v1/flows', ndjson([sampleFlow(day, 9100)]), { headers: { 'content-encoding': 'gzip' } });
    assert.equal(notGzip.status, 400, notGzip.text);
    assert.equal(notGzip.json.code, 'not_gzip');
    const truncated = gzipSync(ndjson([sampleFlow(day, 9101)])).subarray(0, 40);
    const cut = await post(indexer.url, '/v1/flows', truncated, { headers: { 'content-encoding': 'gzip' } });
    assert.equal(cut.status, 400, cut.text);
    assert.equal(cut.json.code, 'not_gzip');
    const empty = await post(indexer.url, '/v1/flows', '');
    assert.equal(empty.status, 400);
    assert.equal(empty.json.code, 'empty_body');
    const blank = await post(indexer.url, '/v1/flows', '\n \n\r\n');
    assert.equal(blank.status, 400);
    assert.equal(blank.json.code, 'empty_body');
    const brotli = await post(indexer.url, '/v1/flows', 'x', { headers: { 'content-encoding': 'br' } });
    assert.equal(brotli.status, 415);
    assert.match(String(brotli.json.error), /send gzip, zstd or no encoding/);
    const notZstd = await post(indexer.url, '/v1/flows', ndjson([sampleFlow(day, 9102)]), { headers: { 'content-encoding': 'zstd' } });
    assert.equal(notZstd.status, 400, notZstd.text);
    assert.equal(notZstd.json.code, 'not_zstd');
    // A frame that asks for a window of 4 MiB, above the 2 MiB agents use: refused before it is allocated.
    const wideFrame = zstdCompressSync(Buffer.alloc(4 * 1024 * 1024, 0x20), { params: { [constants.ZSTD_c_windowLog]: 26, [constants.ZSTD_c_compressionLevel]: 19 } });
    const tooWide = await post(indexer.url, '/v1/flows', wideFrame, { headers: { 'content-encoding': 'zstd' } });
    assert.equal(tooWide.status, 400, tooWide.text);
    assert.equal(tooWide.json.code, 'not_zstd');
    // A zstd bomb is cut at the body limit like a gzip one.
    const zbomb = zstdCompressSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const zinflated = await post(indexer.url, '/v1/flows', zbomb, { headers: { 'content-encoding': 'zstd' } });
    assert.equal(zinflated.status, 413, zinflated.text);
    assert.match(String(zinflated.json.error), /after zstd decompression/);
    const wrongMethod = await get(indexer.url, '/v1/flows');
    assert.equal(wrongMethod.status, 405);
  });

  it('counts what happened in /metrics', async (t) => {
    if (!need(t)) return;
    const m = await get(indexer.url, "/metrics");
    assert.equal(m.status, 200);
    m.text = metricLines(m.text, /^procflow_indexer_(documents|requests|bulk_duration_seconds_count|elasticsearch_up|in_flight|process_resident)/);
    // 120 three times (gzip twice, then zstd), 5 twice (the retried batch read back from a synthetic _source), 60 twice.
    assert.match(m.text, /procflow_indexer_documents_accepted_total\{kind="flows"\} 490/);
    assert.match(m.text, /procflow_indexer_documents_accepted_total\{kind="process"\} 2/);
    assert.match(m.text, /procflow_indexer_documents_rejected_total\{kind="flows",reason="invalid_json"\} 1/);
    assert.match(m.text, /procflow_indexer_documents_rejected_total\{kind="flows",reason="body_too_large"\} 4/);
    assert.match(m.text, /procflow_indexer_documents_rejected_total\{kind="flows",reason="too_many_documents"\} 1/);
    assert.match(m.text, /procflow_indexer_requests_total\{route="\/v1\/flows",status="401"\} 3/);
    assert.match(m.text, /procflow_indexer_bulk_duration_seconds_count\{outcome="ok"\} [1-9]/);
    assert.match(m.text, /procflow_indexer_elasticsearch_up 1/);
    assert.match(m.text, /procflow_indexer_in_flight_requests 0/);
    assert.match(m.text, /procflow_indexer_process_resident_memory_bytes/);
  });
});
