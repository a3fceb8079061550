// The indexer when Elasticsearch misbehaves. A small real HTTP proxy sits between the indexer
// and the real cluster; tests cut it (Elasticsearch down), make it answer 429, or slow it down.
// In every case the agent gets a clear answer and no accepted document is lost or duplicated.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { FLOW_CONTRACT, SCHEMA_VERSION, dailyIndex, type DeadLetterDoc } from '../../schema/index.js';
import type { Indexer } from '../../indexer/index.js';
import { TOKEN, clusterSuite, get, metricLines, ndjson, post, privateDay, sampleFlow, startEsProxy, startTestIndexer, until, type EsProxy } from './indexer-harness.js';

describe('indexer with Elasticsearch failing', () => {
  const day = privateDay();
  const flowIndex = dailyIndex('flows', day.getTime());
  let serial = 0;

  const suite = clusterSuite(day);
  const { need } = suite;
  const cleanup = suite.cleanup;

  async function rig(overrides: Parameters<typeof startTestIndexer>[1] = {}, proxyUp = true): Promise<{ proxy: EsProxy; indexer: Indexer }> {
    const proxy = await startEsProxy(suite.cluster().url);
    if (!proxyUp) await proxy.cut();
    const indexer = await startTestIndexer(proxy.url, overrides);
    cleanup.push(async () => {
      await indexer.close();
      await proxy.close();
    });
    return { proxy, indexer };
  }

  /** A batch of `n` flows no other test uses. */
  const batch = (n: number) => {
    const base = (serial += 10_000);
    return Array.from({ length: n }, (_, i) => sampleFlow(day, base + i));
  };

  const countIds = async (docs: ReturnType<typeof batch>) => {
    await suite.cluster().client.indices.refresh({ index: flowIndex });
    const res = await suite.cluster().client.count({ index: flowIndex, query: { ids: { values: docs.map((d) => FLOW_CONTRACT.id(d)) } } });
    return res.count;
  };

  it('starts with Elasticsearch down: /readyz and ingest say 503 with Retry-After, then it recovers', async (t) => {
    if (!need(t)) return;
    const { proxy, indexer } = await rig({}, false);
    assert.equal((await get(indexer.url, '/healthz')).status, 200, 'alive without Elasticsearch');
    const ready = await get(indexer.url, '/readyz');
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(ready.text), { ready: false, reason: 'elasticsearch_unreachable' }, 'no cluster address or error text for anyone who asks');
    assert.match((await get(indexer.url, '/readyz', { token: TOKEN })).text, /does not answer/, 'an agent\'s token learns why');

    const docs = batch(30);
    const refused = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.headers['retry-after'], '2');
    assert.equal(refused.json.code, 'elasticsearch');

    await proxy.restore();
    await until('readiness', async () => (await get(indexer.url, '/readyz')).status === 200);
    const ok = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(await countIds(docs), 30);
    assert.match(metricLines((await get(indexer.url, '/metrics')).text, /unavailable_total/), /reason="elasticsearch"\} 1/);
  });

  it('answers 503 when Elasticsearch dies mid-batch; the agent\'s retry lands every document once', async (t) => {
    if (!need(t)) return;
    const { proxy, indexer } = await rig({ bulk_max_retries: 2, bulk_flush_bytes: 16 * 1024 });
    const docs = batch(200);
    proxy.fault('die', 1);
    const refused = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(refused.status, 503, refused.text);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.equal((await get(indexer.url, '/readyz')).status, 503, 'not ready while Elasticsearch is gone');

    await proxy.restore();
    await until('readiness', async () => (await get(indexer.url, '/readyz')).status === 200);
    const ok = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(await countIds(docs), 200, 'every document, none twice');
  });

  it('retries bulk requests Elasticsearch answers with 429, then acknowledges with nothing lost', async (t) => {
    if (!need(t)) return;
    const { proxy, indexer } = await rig({ bulk_max_retries: 5 });
    const docs = batch(50);
    proxy.fault('reject-429', 3);
    const res = await post(indexer.url, '/v1/flows', ndjson(docs));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { accepted: 50 });
    assert.equal(proxy.bulkCalls, 4, 'three 429s, then the write');
    assert.equal(await countIds(docs), 50);

    const more = batch(40);
    proxy.fault('items-429', 2);
    const res2 = await post(indexer.url, '/v1/flows', ndjson(more));
    assert.equal(res2.status, 200, res2.text);
    assert.equal(await countIds(more), 40);
    const m = metricLines((await get(indexer.url, '/metrics')).text, /documents_retried_total/);
    assert.match(m, /documents_retried_total\{kind="flows"\} 230/, '3x50 + 2x40 documents sent again');
  });

  it('gives up after the retry budget with 503 + Retry-After, and the retried batch duplicates nothing', async (t) => {
    if (!need(t)) return;
    const { proxy, indexer } = await rig({ bulk_max_retries: 2, bulk_flush_bytes: 8 * 1024 });
    const docs = batch(100);
    // Part of the batch is already in from an earlier attempt; the rest stays refused.
    const first = await post(indexer.url, '/v1/flows', ndjson(docs.slice(0, 20)));
    assert.equal(first.status, 200);
    proxy.fault('items-429', 1000);
    const refused = await post(indexer.url, '/v1/flows', ndjson(docs));
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.json.code, 'elasticsearch_busy');
    assert.equal(refused.headers['retry-after'], '2');
    proxy.clearFaults();
    const ok = await post(indexer.url, '/v1/flows', ndjson(docs));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(await countIds(docs), 100);
  });

  it('dead-letters a document Elasticsearch refuses, with the reason, and acknowledges the rest', async (t) => {
    if (!need(t)) return;
    const { indexer } = await rig();
    const docs = batch(5);
    // Passes the validator (Date.parse reads it) but not the mapping's strict_date_optional_time.
    docs[2] = { ...docs[2]!, start_time: docs[2]!.start_time.replace('T', ' ') };
    const res = await post(indexer.url, '/v1/flows', ndjson(docs));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { accepted: 4, dead_lettered: 1 });
    assert.equal(await countIds(docs), 4);

    const id = FLOW_CONTRACT.id(docs[2]!);
    await suite.cluster().client.indices.refresh({ index: 'procflow-deadletter-*' });
    const found = await suite.cluster().client.search<DeadLetterDoc>({ index: 'procflow-deadletter-*', query: { term: { document_id: id } } });
    assert.equal(found.hits.hits.length, 1);
    const dead = found.hits.hits[0]!._source!;
    assert.equal(dead.target_index, flowIndex);
    assert.equal(dead.status, 400);
    assert.match(dead.error_type, /parsing_exception/);
    assert.match(dead.reason, /start_time/);
    assert.deepEqual(JSON.parse(dead.source!), docs[2]);

    const again = await post(indexer.url, '/v1/flows', ndjson(docs));
    assert.deepEqual(again.json, { accepted: 4, dead_lettered: 1 });
    await suite.cluster().client.indices.refresh({ index: 'procflow-deadletter-*' });
    const twice = await suite.cluster().client.count({ index: 'procflow-deadletter-*', query: { term: { document_id: id } } });
    assert.equal(twice.count, 1, 'a retried batch does not dead-letter the same document twice');
    assert.match(metricLines((await get(indexer.url, '/metrics')).text, /dead_lettered/), /dead_lettered_total\{kind="flows"\} 2/);
    for (const hit of found.hits.hits) await suite.cluster().client.delete({ index: hit._index, id: hit._id! });
  });

  it('answers 503 naming the credentials when Elasticsearch refuses the indexer (401/403), and dead-letters nothing', async (t) => {
    if (!need(t)) return;
    const { proxy, indexer } = await rig({ bulk_max_retries: 1 });
    const deadLetters = async (docs: ReturnType<typeof batch>) => {
      await suite.cluster().client.indices.refresh({ index: 'procflow-deadletter-*', ignore_unavailable: true, allow_no_indices: true });
      const ids = docs.map((d) => FLOW_CONTRACT.id(d));
      const res = await suite.cluster().client.count({ index: 'procflow-deadletter-*', ignore_unavailable: true, allow_no_indices: true, query: { terms: { document_id: ids } } });
      return res.count;
    };

    // The whole bulk request refused: the user may not write.
    const docs = batch(10);
    proxy.fault('reject-403', 5);
    const res = await post(indexer.url, '/v1/flows', ndjson(docs));
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.code, 'elasticsearch_auth');
    assert.equal(res.headers['retry-after'], '2');
    assert.match(String(res.json.error), /403/);
    assert.match(String(res.json.error), /--es-username|--es-api-key/);
    proxy.clearFaults();

    // Every item refused by security: not the documents' fault, so not dead-lettered.
    const more = batch(10);
    proxy.rewrite(/^\/_bulk/, () => ({
      errors: true,
      items: more.map(() => ({ index: { status: 403, error: { type: 'security_exception', reason: 'action [indices:data/write/bulk[s]] is unauthorized for user [procflow]' } } })),
    }));
    const res2 = await post(indexer.url, '/v1/flows', ndjson(more));
    proxy.rewrite(null);
    assert.equal(res2.status, 503, res2.text);
    assert.equal(res2.json.code, 'elasticsearch_auth');
    assert.equal(await deadLetters(more), 0, 'a privilege problem is not the document\'s fault');

    // Wrong credentials everywhere: /readyz says so instead of "does not answer".
    proxy.denyAll(401);
    await until('readyz to name the credentials', async () => {
      const r = await get(indexer.url, '/readyz', { token: TOKEN });
      return r.status === 503 && /credentials/.test(r.text) && r;
    });
    proxy.denyAll(0);
    await until('ready again', async () => (await get(indexer.url, '/readyz')).status === 200);
    const ok = await post(indexer.url, '/v1/flows', ndjson(more));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(await countIds(more), 10);
  });

  it('works with an Elasticsearch that refuses 9.x REST compatibility headers (an 8.x cluster)', async (t) => {
    if (!need(t)) return;
    const { proxy, indexer } = await rig();
    proxy.onlyMajor8(true);
    await indexer.monitor.check();
    assert.equal(indexer.monitor.readiness.ready, true, String(indexer.monitor.readiness.reason));
    const docs = batch(20);
    const res = await post(indexer.url, '/v1/flows', ndjson(docs));
    assert.equal(res.status, 200, res.text);
    assert.equal(await countIds(docs), 20);
  });

  it('is not ready while the installed templates are of another schema version, and says why', async (t) => {
    if (!need(t)) return;
    const proxy = await startEsProxy(suite.cluster().url);
    // The cluster appears to hold templates from an older procflow.
    proxy.rewrite(/^\/_index_template\//, (body) => {
      for (const t of (body.index_templates ?? []) as Array<{ index_template: { _meta?: Record<string, unknown> } }>) {
        t.index_template._meta = { ...t.index_template._meta, schema_version: SCHEMA_VERSION - 1 };
      }
      return body;
    });
    const indexer = await startTestIndexer(proxy.url, { install_templates: false });
    cleanup.push(async () => {
      await indexer.close();
      await proxy.close();
    });
    const ready = await get(indexer.url, '/readyz', { token: TOKEN });
    assert.equal(ready.status, 503);
    assert.match(ready.text, new RegExp(`schema version ${SCHEMA_VERSION - 1}, expected ${SCHEMA_VERSION}; run procflow setup`));
    const refused = await post(indexer.url, '/v1/flows', ndjson(batch(3)));
    assert.equal(refused.status, 503);
    assert.match(String(refused.json.error), /run procflow setup/);

    proxy.rewrite(null);
    await until('readiness once the templates are current', async () => (await get(indexer.url, '/readyz')).status === 200);
  });

  it('answers 503 when more batches arrive than it may hold', async (t) => {
    if (!need(t)) return;
    const { proxy, indexer } = await rig({ max_in_flight_requests: 1 });
    proxy.delayBulk(800);
    const docs = batch(10);
    const slow = post(indexer.url, '/v1/flows', ndjson(docs));
    await until('the first batch in flight', async () => proxy.bulkCalls > 0);
    const busy = await post(indexer.url, '/v1/flows', ndjson(batch(10)));
    assert.equal(busy.status, 503, busy.text);
    assert.equal(busy.json.code, 'in_flight_requests');
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal((await slow).status, 200);
  });

  it('answers 503 when the batches held would exceed the in-flight byte budget', async (t) => {
    if (!need(t)) return;
    // Each batch fits the body limit; two at once do not fit the budget.
    const { proxy, indexer } = await rig({ max_in_flight_bytes: 64 * 1024, max_body_size: 64 * 1024 });
    const held = batch(60);
    proxy.delayBulk(1000);
    const slow = post(indexer.url, '/v1/flows', ndjson(held));
    await until('the first batch to be held', async () => /in_flight_bytes [1-9]/.test((await get(indexer.url, '/metrics')).text));
    const docs = batch(60);
    const res = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.code, 'in_flight_bytes');
    proxy.delayBulk(0);
    assert.equal((await slow).status, 200);
    assert.equal(await countIds(docs), 0);
    const small = batch(10);
    assert.equal((await post(indexer.url, '/v1/flows', ndjson(small))).status, 200, 'a batch within the budget still goes through');
    assert.match(metricLines((await get(indexer.url, '/metrics')).text, /unavailable_total/), /reason="in_flight_bytes"\} 1/);
  });

  it('drains the batches in flight when closed, then stops listening', async (t) => {
    if (!need(t)) return;
    const { proxy, indexer } = await rig();
    proxy.delayBulk(1000);
    const docs = batch(25);
    const inFlight = post(indexer.url, '/v1/flows', ndjson(docs));
    await until('the batch in flight', async () => proxy.bulkCalls > 0);
    const closed = indexer.close();
    const res = await inFlight;
    assert.equal(res.status, 200, res.text);
    await closed;
    assert.equal(await countIds(docs), 25);
    await assert.rejects(post(indexer.url, '/v1/flows', ndjson(docs)), /ECONNREFUSED/);
  });

  it('procflow indexer exits 0 on SIGTERM after draining the batch in flight', async (t) => {
    if (!need(t)) return;
    const proxy = await startEsProxy(suite.cluster().url);
    cleanup.push(() => proxy.close());
    const bin = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'indexer', '--listen', '127.0.0.1:0', '--log-level', 'warn'], {
      env: { ...process.env, PROCFLOW_ES_URL: proxy.url, PROCFLOW_TOKEN: TOKEN, PROCFLOW_RETRY_AFTER: '1s', PROCFLOW_RETENTION_DAYS: '36500' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const exited = once(child, 'exit');
    const url = await until('the listening line', async () => /listening on (http:\S+)/.exec(out)?.[1]);
    await until('readiness', async () => (await get(url, '/readyz')).status === 200);
    proxy.delayBulk(1000);
    const docs = batch(15);
    const inFlight = post(url, '/v1/flows', ndjson(docs), { gzip: true });
    await until('the batch in flight', async () => proxy.bulkCalls > 0);
    child.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200, res.text);
    const [code] = await exited;
    assert.equal(code, 0, err);
    assert.equal(await countIds(docs), 15);
  });
});
