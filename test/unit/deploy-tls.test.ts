// deploy/tls/make-certs.sh and deploy/probe.ts for real: the CA and certificates it makes
// complete mTLS handshakes on 127.0.0.1 for every name asked for (and for no other name or CA),
// it is idempotent, renews, reissues for new names and sets modes; the probe passes only on a
// 2xx answer from a listener that requires client certificates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { X509Certificate } from 'node:crypto';
import { connect, createServer, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { probe } from '../../deploy/probe.js';
import { makeCerts, runMakeCerts, type Certs } from '../support/make-certs.js';

const NAMES = ['indexer', 'procflow-indexer.procflow.svc', 'localhost', '127.0.0.1'];

/** A TLS server with the indexer's certificate that requires a client certificate from the CA. */
async function mtlsServer(t: { after(fn: () => unknown): void }, certs: Certs) {
  const peers: string[] = [];
  const server = createServer({ cert: certs.read('indexer/tls.crt'), key: certs.read('indexer/tls.key'), ca: certs.read('indexer/ca.crt'), requestCert: true, rejectUnauthorized: true }, (socket) => {
    peers.push(`${socket.authorized}:${socket.getPeerCertificate().subject?.CN}`);
    socket.end('pong');
  });
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { port: (server.address() as AddressInfo).port, peers };
}

/** Connects, and resolves 'pong' when the server accepted us, or the error's code. */
function exchange(port: number, o: ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, ...o });
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('end', () => resolve(got || 'closed'));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test('make-certs.sh: the server certificate verifies for every name given, and the server accepts the client certificate (mTLS)', async (t) => {
  const certs = makeCerts(NAMES);
  t.after(() => certs.remove());
  const { port, peers } = await mtlsServer(t, certs);
  const client = { ca: certs.read('agent/ca.crt'), cert: certs.read('agent/tls.crt'), key: certs.read('agent/tls.key') };
  for (const name of NAMES.filter((n) => !/^[\d.]+$/.test(n))) assert.equal(await exchange(port, { ...client, servername: name }), 'pong', name);
  // No servername: Node checks the address connected to (127.0.0.1) against the IP SANs.
  assert.equal(await exchange(port, client), 'pong', '127.0.0.1');
  assert.deepEqual(new Set(peers), new Set(['true:procflow-agent']));

  assert.equal(await exchange(port, { ...client, servername: 'elsewhere.example' }), 'ERR_TLS_CERT_ALTNAME_INVALID');
  const other = makeCerts(NAMES);
  t.after(() => other.remove());
  // (The server sends its CA along, as OpenSSL builds the chain from the client CA it was given.)
  assert.match(await exchange(port, { ...client, ca: other.read('ca/tls.crt'), servername: 'indexer' }), /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/, 'another CA does not trust it');
  assert.notEqual(await exchange(port, { ca: client.ca, servername: 'indexer' }), 'pong', 'no client certificate, no answer');
  assert.notEqual(await exchange(port, { ...client, cert: other.read('agent/tls.crt'), key: other.read('agent/tls.key'), servername: 'indexer' }), 'pong', 'a client certificate of another CA is refused');

  const server = new X509Certificate(certs.read('indexer/tls.crt'));
  assert.equal(server.subjectAltName, 'DNS:indexer, DNS:procflow-indexer.procflow.svc, DNS:localhost, IP Address:127.0.0.1');
  assert.ok(server.verify(new X509Certificate(certs.read('ca/tls.crt')).publicKey));
  assert.equal(new X509Certificate(certs.read('ca/tls.crt')).ca, true);
  assert.equal(new X509Certificate(certs.read('agent/tls.crt')).ca, false);
  assert.deepEqual(certs.read('indexer/ca.crt'), certs.read('ca/tls.crt'));
  assert.equal(server.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('make-certs.sh keeps what is good, renews what expires soon, reissues for new names, and sets modes', () => {
  const certs = makeCerts(['indexer'], ['--days', '5', '--renew-days', '1']);
  const { dir } = certs;
  try {
    const files = ['ca/tls.crt', 'ca/tls.key', 'indexer/tls.crt', 'indexer/tls.key', 'indexer/ca.crt', 'agent/tls.crt', 'agent/tls.key', 'agent/ca.crt'];
    const snapshot = () => Object.fromEntries(files.map((f) => [f, certs.read(f).toString()]));
    const first = snapshot();
    for (const f of files) assert.equal(statSync(join(dir, f)).mode & 0o777, f.endsWith('.key') ? 0o600 : 0o644, f);
    assert.equal(statSync(join(dir, 'ca')).mode & 0o777, 0o700);

    assert.equal(runMakeCerts(['--days', '5', '--renew-days', '1', dir, 'indexer']).status, 0);
    assert.deepEqual(snapshot(), first, 'a second run changes nothing');

    // Both leaf certificates expire within 10 days: issued anew (for a year), the CA stays.
    const renew = runMakeCerts(['--renew-days', '10', dir, 'indexer']);
    assert.equal(renew.status, 0, renew.output);
    assert.match(renew.output, /CA kept/);
    const renewed = snapshot();
    assert.equal(renewed['ca/tls.key'], first['ca/tls.key']);
    for (const f of ['indexer/tls.crt', 'indexer/tls.key', 'agent/tls.crt', 'agent/tls.key']) assert.notEqual(renewed[f], first[f], f);
    const days = (new Date(new X509Certificate(renewed['indexer/tls.crt']!).validTo).getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 364 && days <= 365, `${days} days`);

    // A new name: only the server certificate changes.
    assert.equal(runMakeCerts([dir, 'indexer', 'indexer.example.com']).status, 0);
    const named = snapshot();
    assert.notEqual(named['indexer/tls.crt'], renewed['indexer/tls.crt']);
    assert.equal(named['agent/tls.crt'], renewed['agent/tls.crt']);
    assert.match(new X509Certificate(named['indexer/tls.crt']!).subjectAltName!, /DNS:indexer.example.com/);

    // A lost CA key: a new CA, and certificates that chain to it.
    rmSync(join(dir, 'ca/tls.key'));
    assert.equal(runMakeCerts([dir, 'indexer']).status, 0);
    const fresh = snapshot();
    for (const f of ['ca/tls.crt', 'indexer/tls.crt', 'agent/tls.crt', 'agent/ca.crt']) assert.notEqual(fresh[f], named[f], f);
    assert.ok(new X509Certificate(fresh['agent/tls.crt']!).verify(new X509Certificate(fresh['ca/tls.crt']!).publicKey));
  } finally {
    certs.remove();
  }
});

test('make-certs.sh --token-file installs the token; bad input is refused with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-certs-'));
  try {
    writeFileSync(join(dir, 'src'), '# the token\nsecret-1\n');
    const ok = runMakeCerts(['--token-file', join(dir, 'src'), join(dir, 'out'), 'indexer']);
    assert.equal(ok.status, 0, ok.output);
    assert.equal(readFileSync(join(dir, 'out/token/token'), 'utf8'), '# the token\nsecret-1\n');
    assert.equal(statSync(join(dir, 'out/token/token')).mode & 0o777, 0o600);

    writeFileSync(join(dir, 'empty'), '# nothing here\n\n');
    const refusals: Array<[string[], number, RegExp]> = [
      [['--token-file', join(dir, 'empty'), join(dir, 'out'), 'indexer'], 1, /holds no token/],
      [['--token-file', join(dir, 'missing'), join(dir, 'out'), 'indexer'], 1, /cannot read the token file/],
      [[join(dir, 'out'), 'two words'], 1, /not a DNS name or IP address: 'two words'/],
      [[join(dir, 'out'), 'a;b'], 1, /not a DNS name or IP address/],
      [['--days', '20', join(dir, 'out'), 'indexer'], 1, /--renew-days \(30\) must be less than --days \(20\)/],
      [['--days', 'soon', join(dir, 'out'), 'indexer'], 1, /--days needs a whole number/],
      [['--agent-name', 'a/b', join(dir, 'out'), 'indexer'], 1, /--agent-name/],
      [['--nope', join(dir, 'out'), 'indexer'], 2, /unknown option --nope/],
      [[join(dir, 'out')], 2, /usage: make-certs.sh/],
    ];
    for (const [args, status, message] of refusals) {
      const r = runMakeCerts(args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.output}`);
      assert.match(r.output, message);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the probe passes on 2xx from a listener that requires client certificates, and fails with the reason otherwise', async (t) => {
  const certs = makeCerts(['localhost', '127.0.0.1']);
  t.after(() => certs.remove());
  const server = createHttpsServer({ cert: certs.read('indexer/tls.crt'), key: certs.read('indexer/tls.key'), ca: certs.read('indexer/ca.crt'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 503).end(req.url === '/healthz' ? 'ok' : 'elasticsearch unreachable');
  });
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The indexer's own certificate, as the compose health check and Kubernetes probes present it.
  const files = ['--ca-file', join(certs.dir, 'indexer/ca.crt'), '--cert-file', join(certs.dir, 'indexer/tls.crt'), '--key-file', join(certs.dir, 'indexer/tls.key')];

  assert.deepEqual(await probe([`${base}/healthz`, ...files]), { ok: true, message: `probe: ${base}/healthz answered 200` });
  assert.deepEqual(await probe([`${base}/readyz`, ...files]), { ok: false, message: `probe: ${base}/readyz answered 503: elasticsearch unreachable` });
  const noCert = await probe([`${base}/healthz`, '--ca-file', join(certs.dir, 'indexer/ca.crt')]);
  assert.equal(noCert.ok, false, noCert.message);
  const noCa = await probe([`${base}/healthz`, '--cert-file', join(certs.dir, 'indexer/tls.crt'), '--key-file', join(certs.dir, 'indexer/tls.key')]);
  assert.match(noCa.message, /SELF_SIGNED|UNABLE_TO_VERIFY/);
  assert.equal((await probe(['http://127.0.0.1:1/healthz'])).message, 'probe: http://127.0.0.1:1/healthz: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1');
  assert.match((await probe([`${base}/healthz`, '--cert-file', 'x'])).message, /go together/);
  assert.match((await probe([])).message, /usage/);
  assert.match((await probe([`${base}/healthz`, '--timeout-ms', 'soon'])).message, /whole number of milliseconds/);

  // As the containers run it (a child process, so this process keeps serving): the exit status is the verdict.
  const script = fileURLToPath(new URL('../../deploy/probe.js', import.meta.url));
  const status = async (url: string) => {
    const child = spawn(process.execPath, [script, url, ...files], { stdio: 'ignore' });
    const [code] = (await once(child, 'exit')) as [number | null];
    return code;
  };
  assert.equal(await status(`${base}/healthz`), 0);
  assert.equal(await status(`${base}/readyz`), 1);
});
