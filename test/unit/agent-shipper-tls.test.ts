// The shipper over https against a real local TLS server signed by a throwaway CA: the CA file,
// client certificates (mTLS), a wrong CA (the batch stays spooled and the log says which flag
// to pass), CA files that change while it runs, and a token file that is rotated.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { ConfigError } from '../../common/errors.js';
import { IndexerClient } from '../../agent/delivery/indexer-client.js';
import { agentDefaults, type AgentConfig } from '../../agent/config.js';
import { validateAgentConfig } from '../../agent/run.js';
import { Shipper, type ShipperOptions } from '../../agent/delivery/shipper.js';
import { Spool } from '../../agent/delivery/spool.js';
import { captureLog, LEVEL } from '../support/log.js';
import { createTestCa, type TestCa } from '../support/tls.js';

interface Seen {
  auth: string | undefined;
  /** The client certificate's CN, when one was presented. */
  client: string | undefined;
}

function testCa(t: TestContext, label?: string): TestCa {
  const ca = createTestCa(label);
  t.after(() => ca.remove());
  return ca;
}

/** A real https server acknowledging every batch, recording who sent it. */
async function httpsIndexer(t: TestContext, ca: TestCa, o: { requireClientCert?: boolean } = {}) {
  const cert = ca.server();
  const seen: Seen[] = [];
  const server: Server = createHttpsServer({ cert: cert.cert, key: cert.key, ...(o.requireClientCert ? { ca: ca.ca, requestCert: true, rejectUnauthorized: true } : {}) },
    (req: IncomingMessage, res: ServerResponse) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push({ auth: req.headers.authorization, client: peer?.subject?.CN?.toString() });
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":1}'));
    });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  }));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function shipperFor(t: TestContext, o: Partial<ShipperOptions> & Pick<ShipperOptions, 'indexer_url'>) {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-ship-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const spool = new Spool(agentDefaults({ spool_dir: dir, spool_max_size: 1 << 20 }));
  const { log, lines } = captureLog();
  const shipper = new Shipper({ ...agentDefaults(), token: 'sekret', spool, log, backoff: { baseMs: 50 }, retry_max_delay: 200, request_timeout: 5000, watchIntervalMs: 50, ...o });
  t.after(() => shipper.stop());
  return { dir, spool, shipper, lines };
}

const batch = (n: number) => gzipSync(`${JSON.stringify({ n })}\n`);
const until = async (what: string, ok: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('ships over https to a server whose certificate the --indexer-ca-file CA signed', async (t) => {
  const ca = testCa(t);
  const idx = await httpsIndexer(t, ca);
  const { spool, shipper } = shipperFor(t, { indexer_url: idx.url, indexer_ca_file: ca.caFile });
  await spool.put('flows', batch(1), 1);
  shipper.start();
  assert.equal(await shipper.drained(5000), true);
  assert.deepEqual(idx.seen, [{ auth: 'Bearer sekret', client: undefined }]);
});

test('a server that requires a client certificate: shipped with --indexer-cert-file/--indexer-key-file, refused and kept without', async (t) => {
  const ca = testCa(t);
  const idx = await httpsIndexer(t, ca, { requireClientCert: true });
  const client = ca.client('agent-node-1');

  const without = shipperFor(t, { indexer_url: idx.url, indexer_ca_file: ca.caFile });
  await without.spool.put('flows', batch(1), 1);
  without.shipper.start();
  await until('a failed attempt', () => without.shipper.stats.failures >= 1);
  await without.shipper.stop();
  assert.equal(without.spool.size, 1, 'the batch stays spooled');
  assert.equal(idx.seen.length, 0, 'the server never took a request without a client certificate');
  const error = without.lines.find((l) => l.level === LEVEL.error && /TLS with the indexer failed/.test(l.msg));
  assert.ok(error, 'an error is logged');
  assert.match(error.msg, /--indexer-cert-file and --indexer-key-file/);

  const withCert = shipperFor(t, { indexer_url: idx.url, indexer_ca_file: ca.caFile, indexer_cert_file: client.certFile, indexer_key_file: client.keyFile });
  await withCert.spool.put('flows', batch(2), 1);
  withCert.shipper.start();
  assert.equal(await withCert.shipper.drained(5000), true);
  assert.deepEqual(idx.seen.map((s) => s.client), ['agent-node-1']);
});

test('a wrong CA (or none: the system CAs) keeps the batch spooled and says to pass --indexer-ca-file; fixing the file needs no restart', async (t) => {
  const ca = testCa(t);
  const other = testCa(t, 'some other CA');
  const idx = await httpsIndexer(t, ca);
  const caCopy = join(mkdtempSync(join(tmpdir(), 'procflow-ca-copy-')), 'ca.crt');
  t.after(() => rmSync(caCopy, { force: true }));
  writeFileSync(caCopy, other.ca);

  const system = shipperFor(t, { indexer_url: idx.url });
  await system.spool.put('flows', batch(0), 1);
  system.shipper.start();
  await until('a failed attempt with the system CAs', () => system.shipper.stats.failures >= 1);
  await system.shipper.stop();
  assert.equal(system.spool.size, 1);
  assert.ok(system.lines.some((l) => l.level === LEVEL.error && /--indexer-ca-file \(PROCFLOW_INDEXER_CA_FILE\)/.test(l.msg)), 'the system CAs do not know the test CA');

  const { spool, shipper, lines } = shipperFor(t, { indexer_url: idx.url, indexer_ca_file: caCopy });
  await spool.put('flows', batch(1), 1);
  shipper.start();
  await until('two failed attempts', () => shipper.stats.failures >= 2);
  assert.equal(spool.size, 1, 'the batch stays spooled: certificate errors are retried');
  assert.equal(idx.seen.length, 0);
  const error = lines.find((l) => l.level === LEVEL.error && /TLS with the indexer failed/.test(l.msg))!;
  assert.match(error.msg, /pass the PEM CA bundle that signed it with --indexer-ca-file \(PROCFLOW_INDEXER_CA_FILE\)/);
  assert.match(String(error.code), /CERT|SIGNATURE|ISSUER/);

  // The right CA lands in the file (a renewal, a fixed mount): new connections use it.
  writeFileSync(caCopy, ca.ca);
  assert.equal(await shipper.drained(10_000), true, 'delivered once the CA file was fixed');
  assert.equal(idx.seen.length, 1);
  assert.ok(lines.some((l) => /TLS files changed; new connections use them/.test(l.msg)));
});

test('a rotated token file: the next request carries the new token, without a restart', async (t) => {
  const ca = testCa(t);
  const idx = await httpsIndexer(t, ca);
  const dir = mkdtempSync(join(tmpdir(), 'procflow-token-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, '# the indexer token\n\nfirst-token\n');
  const { spool, shipper } = shipperFor(t, { indexer_url: idx.url, indexer_ca_file: ca.caFile, token: 'from-the-flag', token_file: tokenFile });
  shipper.start();
  await spool.put('flows', batch(1), 1);
  shipper.notify();
  assert.equal(await shipper.drained(5000), true);
  // Replaced the way Kubernetes does it: a new file renamed over the old one.
  writeFileSync(join(dir, 'token.new'), 'second-token\nstill-valid-old-one\n');
  renameSync(join(dir, 'token.new'), tokenFile);
  await new Promise((r) => setTimeout(r, 300));
  await spool.put('flows', batch(2), 1);
  shipper.notify();
  assert.equal(await shipper.drained(5000), true);
  assert.deepEqual(idx.seen.map((s) => s.auth), ['Bearer first-token', 'Bearer second-token']);
});

test('TLS settings that cannot work are ConfigErrors at start, naming the flags', async (t) => {
  const ca = testCa(t);
  const client = ca.client('x');
  const log = pino({ level: 'silent' });
  const garbage = join(ca.dir, 'not-a-ca.pem');
  writeFileSync(garbage, 'hello\n');
  const cases: [string, Partial<AgentConfig>, RegExp][] = [
    ['cert without key', { indexer_url: 'https://127.0.0.1:1', token: 't', indexer_cert_file: client.certFile }, /--indexer-cert-file and --indexer-key-file go together/],
    ['a CA for an http:// URL', { indexer_url: 'http://127.0.0.1:1', token: 't', indexer_ca_file: ca.caFile }, /--indexer-ca-file set, but --indexer-url http:\/\/127\.0\.0\.1:1 is not https/],
    ['a CA file without a certificate', { indexer_url: 'https://127.0.0.1:1', token: 't', indexer_ca_file: garbage }, /holds no PEM certificate/],
    ['a key that is not the certificate\'s', { indexer_url: 'https://127.0.0.1:1', token: 't', indexer_cert_file: client.certFile, indexer_key_file: ca.server().keyFile }, /key values mismatch/],
    ['a missing CA file', { indexer_url: 'https://127.0.0.1:1', token: 't', indexer_ca_file: join(ca.dir, 'missing.pem') }, /cannot read the indexer CA bundle .*--indexer-ca-file/],
    ['an empty token file', { indexer_url: 'https://127.0.0.1:1', token: '', token_file: garbage.replace('not-a-ca.pem', 'empty') }, /holds no token/],
  ];
  writeFileSync(garbage.replace('not-a-ca.pem', 'empty'), '# nothing yet\n\n');
  for (const [what, c, message] of cases) {
    assert.throws(() => new IndexerClient({ ...agentDefaults(c), log }), (err: Error) => err instanceof ConfigError && message.test(err.message), what);
  }
  // The combinations that cannot work are refused before the kernel is even opened.
  assert.throws(() => validateAgentConfig(agentDefaults({ indexer_url: 'https://127.0.0.1:1', token: 't', indexer_key_file: client.keyFile })), /go together/);
  assert.throws(() => validateAgentConfig(agentDefaults({ indexer_url: 'http://127.0.0.1:1', token: 't', indexer_ca_file: ca.caFile })), /is not https/);
});
