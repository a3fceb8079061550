// The indexer when Elasticsearch refuses a whole bulk request for a reason retrying cannot
// change: too large (413: written in halves), an index it may not create (404: 503 naming
// `procflow setup`, not ready), a request it cannot parse (400: a 500 naming the cause, logged
// with Elasticsearch's error). And `procflow indexer` stopping while Elasticsearch is gone.
// The real cluster throughout; a small real proxy in front of it where a fault is needed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { startIndexer, withDefaults } from '../../indexer/index.js';
import { FLOW_CONTRACT, dailyIndex, type FlowLog } from '../../schema/index.js';
import { TOKEN, clusterSuite, deleteDayIndices, get, metricLines, ndjson, post, privateDay, sampleFlow, startEsProxy, startTestIndexer, until, type EsProxy } from './indexer-harness.js';


/** `procflow indexer` as a child process on a free port with `env`; resolves once it listens. */
async function indexerProcess(t: { after(fn: () => void): void }, logLevel: string, env: Record<string, string>) {
  const bin = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'indexer', '--listen', '127.0.0.1:0', '--log-level', logLevel], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = once(child, 'exit');
  const url = await until('the listening line', async () => /listening on (http:\S+)/.exec(out)?.[1]);
  return { child, url, exited, stderr: () => err };
}

describe('indexer when Elasticsearch refuses a whole bulk request', () => {
  const day = privateDay();
  const flowIndex = dailyIndex('flows', day.getTime());
  /** A day of its own for the auto-create test: its index must not exist yet. */
  let otherDay = privateDay();
  while (dailyIndex('flows', otherDay.getTime()) === flowIndex) otherDay = privateDay();
  let serial = 0;

  const suite = clusterSuite(day);
  const { need } = suite;
  const cleanup = suite.cleanup;
  cleanup.push(async () => deleteDayIndices(suite.cluster().client, otherDay));

  async function proxied(): Promise<EsProxy> {
    const proxy = await startEsProxy(suite.cluster().url);
    cleanup.push(() => proxy.close());
    return proxy;
  }

  const batch = (n: number, over: (i: number) => Partial<FlowLog> = () => ({}), on = day): FlowLog[] => {
    const base = (serial += 10_000);
    return Array.from({ length: n }, (_, i) => sampleFlow(on, base + i, over(i)));
  };

  const countIds = async (docs: FlowLog[], index = flowIndex) => {
    await suite.cluster().client.indices.refresh({ index, ignore_unavailable: true });
    const res = await suite.cluster().client.count({ index, ignore_unavailable: true, query: { ids: { values: docs.map((d) => FLOW_CONTRACT.id(d)) } } });
    return res.count;
  };

  const deadLettered = async (docs: FlowLog[]) => {
    await suite.cluster().client.indices.refresh({ index: 'procflow-deadletter-*', ignore_unavailable: true, allow_no_indices: true });
    const res = await suite.cluster().client.count({ index: 'procflow-deadletter-*', ignore_unavailable: true, allow_no_indices: true, query: { terms: { document_id: docs.map((d) => FLOW_CONTRACT.id(d)) } } });
    return res.count;
  };

  it('413 (larger than http.max_content_length): writes the bulk request in halves until they fit; a single document too large is answered 413', async (t) => {
    if (!need(t)) return;
    const proxy = await proxied();
    const indexer = await startTestIndexer(proxy.url);
    cleanup.push(() => indexer.close());
    const docs = batch(200);
    proxy.limitBulkBytes(40 * 1024);
    const res = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { accepted: 200 });
    assert.ok(proxy.bulkTooLarge >= 1, 'the cluster refused the whole request at least once');
    assert.equal(await countIds(docs), 200, 'every document written once the halves fit');
    assert.match(metricLines((await get(indexer.url, '/metrics')).text, /bulk_splits_total/), /bulk_splits_total [1-9]/);

    // One document larger than the limit on its own: the rest is written, the agent is told 413
    // (it keeps that document aside), nothing is acknowledged and nothing dead-lettered.
    const more = batch(20, (i) => (i === 7 ? { process_args: ['x'.repeat(50 * 1024)] } : {}));
    const big = await post(indexer.url, '/v1/flows', ndjson(more), { gzip: true });
    assert.equal(big.status, 413, big.text);
    assert.equal(big.json.code, 'document_too_large');
    assert.match(String(big.json.error), /http\.max_content_length/);
    assert.equal(await deadLettered(more), 0, 'a size limit is not the document\'s content fault');
    proxy.limitBulkBytes(0);
  });

  it('404 (auto-create forbidden for the index): 503 with Retry-After naming procflow setup, not ready until the index may be created, nothing dead-lettered', async (t) => {
    if (!need(t)) return;
    const indexer = await startTestIndexer(suite.cluster().url);
    cleanup.push(() => indexer.close());
    const index = dailyIndex('flows', otherDay.getTime());
    const docs = batch(10, () => ({}), otherDay);
    // Forbid creating exactly this test's index, so other users of the cluster are unaffected.
    const put = (value: string | null) => suite.cluster().client.cluster.putSettings({ persistent: { 'action.auto_create_index': value } });
    const before = await suite.cluster().client.cluster.getSettings({ flat_settings: true });
    const previous = (before.persistent as Record<string, string | undefined>)['action.auto_create_index'] ?? null;
    try {
      await put(`-${index},+*`);
      const res = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
      assert.equal(res.status, 503, res.text);
      assert.equal(res.json.code, 'elasticsearch_index_missing');
      assert.equal(res.headers['retry-after'], '2');
      assert.match(String(res.json.error), new RegExp(`${index.replace(/\./g, '\\.')}.*procflow setup.*action\\.auto_create_index`));
      // A full check (cluster up, templates installed) keeps it unready: the index still may not be created.
      await indexer.monitor.check();
      const ready = await get(indexer.url, '/readyz', { token: TOKEN });
      assert.equal(ready.status, 503, ready.text);
      assert.match(ready.text, /procflow setup/);
      assert.equal(await countIds(docs, index), 0);
      assert.equal(await deadLettered(docs), 0, 'the cluster\'s setup is not the documents\' fault');
    } finally {
      await put(previous);
    }
    await until('ready once the index may be created', async () => (await get(indexer.url, '/readyz')).status === 200);
    const ok = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(await countIds(docs, index), 10);
  });

  it('400 on the whole request: a 500 naming Elasticsearch\'s cause, logged with its error, nothing acknowledged', async (t) => {
    if (!need(t)) return;
    const proxy = await proxied();
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(...chunk.toString().split('\n').filter(Boolean)), done()) });
    const indexer = await startIndexer(
      withDefaults({ es_url: proxy.url, token: TOKEN, retention_days: 36_500, listen: '127.0.0.1:0', health_interval: 1000, unavailable_probe_interval: 200, retry_backoff: 20, retry_max_backoff: 200, retry_after: 2000 }),
      { log: pino({ level: 'warn' }, sink) },
    );
    cleanup.push(() => indexer.close());
    const docs = batch(10);
    proxy.fault('malformed', 1);
    const res = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(res.status, 500, res.text);
    assert.equal(res.json.code, 'elasticsearch_bad_request');
    assert.match(String(res.json.error), /Malformed action\/metadata line/);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; es?: { error?: { type?: string; reason?: string } } }).find((l) => l.es);
    assert.ok(logged, `a log line with Elasticsearch's error, got ${lines.join('\n')}`);
    assert.equal(logged.es!.error!.type, 'illegal_argument_exception');
    assert.equal(await countIds(docs), 0);
    assert.equal(await deadLettered(docs), 0);
    const again = await post(indexer.url, '/v1/flows', ndjson(docs), { gzip: true });
    assert.equal(again.status, 200, again.text);
    assert.equal(await countIds(docs), 10);
  });

  it('procflow indexer exits on SIGTERM within --shutdown-timeout while Elasticsearch is gone; the batch in flight is answered 503', async (t) => {
    if (!need(t)) return;
    const proxy = await proxied();
    const { child, url, exited, stderr } = await indexerProcess(t, 'warn', {
      PROCFLOW_ES_URL: proxy.url,
      PROCFLOW_TOKEN: TOKEN,
      PROCFLOW_SHUTDOWN_TIMEOUT: '2s',
      // Without a deadline, this batch would be retried for a very long time.
      PROCFLOW_BULK_MAX_RETRIES: '100000',
      PROCFLOW_RETRY_BACKOFF: '1s',
      PROCFLOW_RETRY_MAX_BACKOFF: '5s',
      PROCFLOW_HEALTH_INTERVAL: '1h',
    });
    await until('readiness', async () => (await get(url, '/readyz')).status === 200);

    await proxy.cut(); // Elasticsearch's port is closed from now on
    const docs = batch(15);
    const inFlight = post(url, '/v1/flows', ndjson(docs), { gzip: true });
    await until('the batch held, retrying', async () => /in_flight_requests 1/.test((await get(url, '/metrics')).text) && (await get(url, '/readyz')).status === 503);
    child.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 503, res.text);
    assert.ok(Number(res.headers['retry-after']) >= 1);
    const code = await Promise.race([exited.then(([c]) => c as number | null), new Promise<string>((r) => setTimeout(() => r('still running'), 20_000))]);
    assert.equal(code, 0, `exit: ${String(code)}\n${stderr()}`);
    await proxy.restore();
    assert.equal(await countIds(docs), 0, 'nothing was written, and nothing was acknowledged');
  });

  it('procflow indexer cuts off a bulk request Elasticsearch does not answer at --shutdown-timeout: 503, then exits', async (t) => {
    if (!need(t)) return;
    const proxy = await proxied();
    const { child, url, exited, stderr } = await indexerProcess(t, 'error', { PROCFLOW_ES_URL: proxy.url, PROCFLOW_TOKEN: TOKEN, PROCFLOW_SHUTDOWN_TIMEOUT: '1s', PROCFLOW_ES_REQUEST_TIMEOUT: '10m' });
    await until('readiness', async () => (await get(url, '/readyz')).status === 200);
    proxy.delayBulk(8000); // far past the shutdown timeout (the request timeout is longer still)
    const docs = batch(5);
    const inFlight = post(url, '/v1/flows', ndjson(docs), { gzip: true });
    await until('the bulk request sent', async () => proxy.bulkCalls > 0);
    child.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.code, 'shutting_down');
    const code = await Promise.race([exited.then(([c]) => c as number | null), new Promise<string>((r) => setTimeout(() => r('still running'), 20_000))]);
    assert.equal(code, 0, `exit: ${String(code)}\n${stderr()}`);
    proxy.delayBulk(0);
  });

  it('procflow indexer started against a closed port exits on SIGTERM', async (t) => {
    if (!need(t)) return;
    const proxy = await proxied();
    await proxy.cut();
    const { child, url, exited, stderr } = await indexerProcess(t, 'error', { PROCFLOW_ES_URL: proxy.url, PROCFLOW_TOKEN: TOKEN, PROCFLOW_SHUTDOWN_TIMEOUT: '2s' });
    const refused = await post(url, '/v1/flows', ndjson(batch(3)), { gzip: true });
    assert.equal(refused.status, 503, refused.text);
    child.kill('SIGTERM');
    const code = await Promise.race([exited.then(([c]) => c as number | null), new Promise<string>((r) => setTimeout(() => r('still running'), 20_000))]);
    assert.equal(code, 0, `exit: ${String(code)}\n${stderr()}`);
  });
});
