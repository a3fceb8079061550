// The importer against a real HTTP server that speaks Kibana's status and import API (Kibana
// itself cannot run here): it waits while Kibana starts, sends the NDJSON as multipart with the
// kbn-xsrf header and credentials, and reports auth failures, timeouts and partial imports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import { pino } from 'pino';
import { importKibanaObjects } from '../../kibana/importer.js';
import { toNdjson } from '../../kibana/objects.js';
import { ProcflowError } from '../../common/errors.js';

const log = pino({ level: 'silent' });

interface Received {
  headers: IncomingMessage['headers'];
  url: string;
  body: string;
}

async function kibanaStandIn(opts: { unavailableFor?: number; authStatus?: number; importErrors?: unknown[] }) {
  const received: Received[] = [];
  let statusCalls = 0;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    received.push({ headers: req.headers, url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
    if (opts.authStatus) return void res.writeHead(opts.authStatus).end('{"statusCode":401,"error":"Unauthorized"}');
    if (req.url === '/api/status') {
      statusCalls++;
      const level = statusCalls <= (opts.unavailableFor ?? 0) ? 'unavailable' : 'available';
      res.writeHead(level === 'available' ? 200 : 503, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ status: { overall: { level, summary: level === 'available' ? 'All services are available' : 'Kibana is starting' } } }));
    }
    if (req.method === 'POST' && req.url === '/api/saved_objects/_import?overwrite=true') {
      const body = Buffer.concat(chunks).toString('utf8');
      const count = (body.match(/"coreMigrationVersion"/g) ?? []).length;
      const errors = opts.importErrors ?? [];
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ success: errors.length === 0, successCount: count - errors.length, ...(errors.length ? { errors } : {}) }));
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const conn = (url: string) => ({ kibana_url: url, kibana_username: '', kibana_password: '', es_username: 'elastic', es_password: 's3cret' });

test('waits for Kibana to become available, then imports every object as multipart with overwrite', async (t) => {
  const k = await kibanaStandIn({ unavailableFor: 2 });
  t.after(k.close);
  const n = await importKibanaObjects(conn(k.url), { timeoutMs: 10_000, log, pollMs: 50 });
  const ndjson = toNdjson();
  assert.equal(n, ndjson.trim().split('\n').length);
  const statusCalls = k.received.filter((r) => r.url === '/api/status');
  assert.equal(statusCalls.length, 3, 'polled until available');
  const post = k.received.find((r) => r.url.startsWith('/api/saved_objects/_import'))!;
  assert.equal(post.headers['kbn-xsrf'], 'procflow');
  assert.equal(post.headers.authorization, `Basic ${Buffer.from('elastic:s3cret').toString('base64')}`, 'falls back to the Elasticsearch user');
  assert.match(String(post.headers['content-type']), /^multipart\/form-data; boundary=/);
  assert.match(post.body, /Content-Disposition: form-data; name="file"; filename="procflow\.ndjson"/);
  assert.ok(post.body.includes(ndjson), 'the file part holds the NDJSON unchanged');
});

test('a second import overwrites (idempotent): the same request again', async (t) => {
  const k = await kibanaStandIn({});
  t.after(k.close);
  const a = await importKibanaObjects(conn(k.url), { timeoutMs: 5000, log, pollMs: 50 });
  const b = await importKibanaObjects(conn(k.url), { timeoutMs: 5000, log, pollMs: 50 });
  assert.equal(a, b);
  const posts = k.received.filter((r) => r.url.startsWith('/api/saved_objects/_import'));
  assert.equal(posts.length, 2);
  assert.ok(posts.every((p) => p.url.endsWith('overwrite=true')));
});

test('refused credentials fail at once with KIBANA_AUTH', async (t) => {
  const k = await kibanaStandIn({ authStatus: 401 });
  t.after(k.close);
  const started = Date.now();
  await assert.rejects(importKibanaObjects(conn(k.url), { timeoutMs: 10_000, log, pollMs: 50 }), (e: unknown) => e instanceof ProcflowError && e.code === 'KIBANA_AUTH' && /HTTP 401/.test(e.message));
  assert.ok(Date.now() - started < 5000, 'does not wait out the timeout');
});

test('an unreachable Kibana fails after the timeout with what was last seen', async () => {
  const k = await kibanaStandIn({});
  await k.close(); // nothing listens on that port any more
  await assert.rejects(
    importKibanaObjects(conn(k.url), { timeoutMs: 300, log, pollMs: 50 }),
    (e: unknown) => e instanceof ProcflowError && e.code === 'KIBANA_UNREACHABLE' && /ECONNREFUSED/.test(e.message),
  );
});

test('a partial import lists every object that failed', async (t) => {
  const errors = [
    { id: 'procflow-flows-tcp-rtt', type: 'lens', meta: { title: 'TCP round-trip time' }, error: { type: 'unknown', message: 'boom' } },
    { id: 'procflow-flow-overview', type: 'dashboard', meta: { title: 'procflow: Flow overview' }, error: { type: 'missing_references', references: [{ type: 'lens', id: 'x' }] } },
  ];
  const k = await kibanaStandIn({ importErrors: errors });
  t.after(k.close);
  await assert.rejects(importKibanaObjects(conn(k.url), { timeoutMs: 5000, log, pollMs: 50 }), (e: unknown) => {
    assert.ok(e instanceof ProcflowError && e.code === 'KIBANA_IMPORT');
    assert.match(e.message, /2 of \d+ saved objects failed/);
    assert.match(e.message, /lens\/procflow-flows-tcp-rtt \(TCP round-trip time\): unknown boom/);
    assert.match(e.message, /dashboard\/procflow-flow-overview .*missing_references \[missing: lens\/x\]/);
    return true;
  });
});

test('with an Elasticsearch API key and no Kibana user, Kibana gets the API key (it accepts ApiKey)', async (t) => {
  const k = await kibanaStandIn({});
  t.after(k.close);
  await importKibanaObjects({ kibana_url: k.url, kibana_username: '', kibana_password: '', es_username: '', es_password: '', es_api_key: 'aWQ6a2V5' }, { timeoutMs: 10_000, log, pollMs: 50 });
  const post = k.received.find((r) => r.url.startsWith('/api/saved_objects/_import'))!;
  assert.equal(post.headers.authorization, 'ApiKey aWQ6a2V5');
});
