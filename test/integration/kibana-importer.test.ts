// The importer against a real HTTP server that speaks Kibana's status and import API (Kibana
// itself cannot run here): it waits while Kibana starts, sends the NDJSON as multipart with the
// kbn-xsrf header and credentials, and reports auth failures, timeouts and partial imports.
// Over https (node:https with a CA and certificates made by openssl here) it trusts
// --kibana-ca-file, else --es-ca-file, and an untrusted certificate names the flag to pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { pino } from 'pino';
import { importKibanaObjects } from '../../kibana/importer.js';
import { toNdjson } from '../../kibana/objects.js';
import { ConfigError, ProcflowError, describeError } from '../../common/errors.js';
import { getTestCluster } from '../support/elasticsearch.js';
import { skipOrFail } from '../support/environment.js';

const log = pino({ level: 'silent' });

interface Received {
  headers: IncomingMessage['headers'];
  url: string;
  body: string;
}

async function kibanaStandIn(opts: { unavailableFor?: number; authStatus?: number; importErrors?: unknown[]; importPage?: string; tls?: { key: Buffer; cert: Buffer } }) {
  const received: Received[] = [];
  let statusCalls = 0;
  const handler: RequestListener = async (req, res) => {
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
      if (opts.importPage) return void res.writeHead(200, { 'content-type': 'text/html' }).end(opts.importPage);
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ success: errors.length === 0, successCount: count - errors.length, ...(errors.length ? { errors } : {}) }));
    }
    res.writeHead(404).end();
  };
  const server: Server = opts.tls ? createHttpsServer(opts.tls, handler) : createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** A CA, a server certificate it signed for 127.0.0.1, and an unrelated second CA. */
function makePki(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-kibana-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  for (const ca of ['ca', 'other-ca']) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${ca}.key`), '-out', f(`${ca}.crt`), '-days', '1', '-subj', `/CN=procflow test ${ca}`);
  }
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('kibana.key'), '-out', f('kibana.csr'), '-subj', '/CN=kibana');
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', f('kibana.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('kibana.crt'), '-days', '1', '-extfile', f('ext.cnf'));
  return { caFile: f('ca.crt'), otherCaFile: f('other-ca.crt'), tls: { key: readFileSync(f('kibana.key')), cert: readFileSync(f('kibana.crt')) } };
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

test('a 200 that is not an import result (a proxy page) is KIBANA_IMPORT naming --kibana-url, not a JSON parse error', async (t) => {
  const k = await kibanaStandIn({ importPage: '<html>Welcome to nginx</html>' });
  t.after(k.close);
  await assert.rejects(importKibanaObjects(conn(k.url), { timeoutMs: 5000, log, pollMs: 50 }),
    (e: unknown) => e instanceof ProcflowError && e.code === 'KIBANA_IMPORT' && /not with an import result: <html>Welcome to nginx/.test(e.message) && /--kibana-url/.test(e.hint ?? ''));
});

test('with an Elasticsearch API key and no Kibana user, Kibana gets the API key (it accepts ApiKey)', async (t) => {
  const k = await kibanaStandIn({});
  t.after(k.close);
  await importKibanaObjects({ kibana_url: k.url, kibana_username: '', kibana_password: '', es_username: '', es_password: '', es_api_key: 'aWQ6a2V5' }, { timeoutMs: 10_000, log, pollMs: 50 });
  const post = k.received.find((r) => r.url.startsWith('/api/saved_objects/_import'))!;
  assert.equal(post.headers.authorization, 'ApiKey aWQ6a2V5');
});

const tlsConn = (url: string, ca: { kibana_ca_file?: string; es_ca_file?: string }) => ({ ...conn(url), ...ca });

test('https: trusts --kibana-ca-file, and by default the --es-ca-file CA', async (t) => {
  const pki = makePki(t);
  const k = await kibanaStandIn({ tls: pki.tls });
  t.after(k.close);
  const n = await importKibanaObjects(tlsConn(k.url, { kibana_ca_file: pki.caFile, es_ca_file: pki.otherCaFile }), { timeoutMs: 10_000, log, pollMs: 50 });
  assert.equal(n, toNdjson().trim().split('\n').length, '--kibana-ca-file wins over --es-ca-file');
  const viaEs = await importKibanaObjects(tlsConn(k.url, { es_ca_file: pki.caFile }), { timeoutMs: 10_000, log, pollMs: 50 });
  assert.equal(viaEs, n, 'without --kibana-ca-file the Elasticsearch CA is used');
  const post = k.received.find((r) => r.url.startsWith('/api/saved_objects/_import'))!;
  assert.match(String(post.headers['content-type']), /^multipart\/form-data; boundary=/);
  assert.ok(post.body.includes(toNdjson()), 'the NDJSON arrives whole over TLS');
});

test('https: an untrusted certificate fails at once naming --kibana-ca-file, with no CA or the wrong one', async (t) => {
  const pki = makePki(t);
  const k = await kibanaStandIn({ tls: pki.tls });
  t.after(k.close);
  for (const [ca, says] of [
    [{}, /pass --kibana-ca-file \(PROCFLOW_KIBANA_CA_FILE\)/],
    [{ es_ca_file: pki.otherCaFile }, /the CA from --es-ca-file did not sign it: pass --kibana-ca-file/],
    [{ kibana_ca_file: pki.otherCaFile }, /the CA from --kibana-ca-file did not sign it/],
  ] as const) {
    const started = Date.now();
    await assert.rejects(importKibanaObjects(tlsConn(k.url, ca), { timeoutMs: 20_000, log, pollMs: 50 }), (e: unknown) => {
      assert.ok(e instanceof ProcflowError, String(e));
      assert.equal(e.code, 'KIBANA_TLS');
      assert.match(e.message, /does not trust/);
      assert.match(describeError(e), says);
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'does not wait out the timeout on a certificate error');
  }
  assert.equal(k.received.length, 0, 'nothing was sent over the untrusted connection');
});

test('https: an unreadable CA file is a config error naming the setting it came from', async () => {
  await assert.rejects(importKibanaObjects(tlsConn('https://127.0.0.1:1', { kibana_ca_file: '/nonexistent/kibana-ca.crt' }), { timeoutMs: 1000, log, pollMs: 50 }),
    (e: unknown) => e instanceof ConfigError && /--kibana-ca-file \/nonexistent\/kibana-ca\.crt/.test(e.message) && /PROCFLOW_KIBANA_CA_FILE/.test(e.hint ?? ''));
  await assert.rejects(importKibanaObjects(tlsConn('https://127.0.0.1:1', { es_ca_file: '/nonexistent/es-ca.crt' }), { timeoutMs: 1000, log, pollMs: 50 }),
    (e: unknown) => e instanceof ConfigError && /--es-ca-file \/nonexistent\/es-ca\.crt \(the CA for Kibana\)/.test(e.message));
});

test('procflow setup --kibana-url https://...: refuses the untrusted certificate naming the flag, imports with PROCFLOW_KIBANA_CA_FILE', async (t) => {
  const cluster = await getTestCluster();
  if (!cluster.cluster) return skipOrFail(t, cluster.reason);
  t.after(() => cluster.cluster.stop());
  const pki = makePki(t);
  const k = await kibanaStandIn({ tls: pki.tls });
  t.after(k.close);
  const bin = fileURLToPath(new URL('../../../bin/procflow.js', import.meta.url));
  const setup = (env: Record<string, string>) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'setup', '--es-url', cluster.cluster.url, '--kibana-url', k.url, '--wait-timeout', '20s', '--log-level', 'warn'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PROCFLOW_KIBANA_CA_FILE: '', PROCFLOW_ES_CA_FILE: '', ...env },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c));
      child.stderr.on('data', (c: Buffer) => (stderr += c));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  const untrusted = await setup({});
  assert.equal(untrusted.status, 1, untrusted.stderr);
  assert.match(untrusted.stderr, /procflow setup: kibana: https:\/\/127\.0\.0\.1:\d+ presented a certificate this host does not trust/);
  assert.match(untrusted.stderr, /hint: pass --kibana-ca-file \(PROCFLOW_KIBANA_CA_FILE\)/);
  const trusted = await setup({ PROCFLOW_KIBANA_CA_FILE: pki.caFile });
  assert.equal(trusted.status, 0, trusted.stderr);
  assert.match(trusted.stdout, /procflow setup: done \(\d+ templates, Kibana objects[;)]/);
  assert.equal(k.received.filter((r) => r.url.startsWith('/api/saved_objects/_import')).length, 1);
});
