import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { unpackBatch } from '../support/batches.js';
import { pino } from 'pino';
import { Spool } from '../../agent/delivery/spool.js';
import { Shipper, type ShipperOptions } from '../../agent/delivery/shipper.js';
import { agentDefaults } from '../../agent/config.js';
import { startAgent } from '../../agent/run.js';
import { SyntheticCollector } from '../../agent/synthetic.js';
import { captureLog, LEVEL } from '../support/log.js';

interface Seen {
  at: number;
  path: string;
  auth: string | undefined;
  encoding: string | undefined;
  lines: string[];
}

/** A real local HTTP server answering from a script of handlers, recording each request. */
async function indexerStub(t: { after(fn: () => Promise<void> | void): void }, script: ((seen: Seen, res: ServerResponse) => void)[]) {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = req.headers['content-encoding'] ? unpackBatch(raw) : raw.toString();
      const s: Seen = { at: Date.now(), path: req.url ?? '', auth: req.headers.authorization, encoding: req.headers['content-encoding'], lines: text.trim().split('\n') };
      seen.push(s);
      const handler = script[Math.min(seen.length - 1, script.length - 1)]!;
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const ok = (s: Seen, res: ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: s.lines.length }));

function setup(t: { after(fn: () => void): void }, url: string, extra: Partial<Pick<ShipperOptions, 'ship_concurrency' | 'max_server_error_retries' | 'retry_max_delay' | 'backoff'>> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-ship-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const spool = new Spool(agentDefaults({ spool_dir: dir, spool_max_size: 1 << 20 }));
  const shipper = new Shipper({ ...agentDefaults(), indexer_url: url, token: 'sekret', spool, log: pino({ level: process.env.TEST_LOG ?? 'silent' }), backoff: { baseMs: 50 }, retry_max_delay: 200, request_timeout: 5000, ...extra });
  t.after(() => shipper.stop());
  return { dir, spool, shipper };
}

const ndjson = (...docs: object[]) => gzipSync(`${docs.map((d) => JSON.stringify(d)).join('\n')}\n`);

test('ships gzip NDJSON with the bearer token to the endpoint of each kind', async (t) => {
  const stub = await indexerStub(t, [ok]);
  const { spool, shipper } = setup(t, stub.url);
  await spool.put('flows', ndjson({ a: 1 }, { a: 2 }), 2);
  await spool.put('process', ndjson({ p: 1 }), 1);
  shipper.start();
  assert.equal(await shipper.drained(5000), true);
  assert.deepEqual(stub.seen.map((s) => s.path).sort(), ['/v1/flows', '/v1/process-events']);
  for (const s of stub.seen) {
    assert.equal(s.auth, 'Bearer sekret');
    assert.equal(s.encoding, 'gzip');
  }
  assert.deepEqual(stub.seen.find((s) => s.path === '/v1/flows')!.lines, ['{"a":1}', '{"a":2}']);
  assert.equal(shipper.stats.sentDocs, 3);
  assert.equal(spool.size, 0);
});

const zstdNdjson = (...docs: object[]) => zstdCompressSync(`${docs.map((d) => JSON.stringify(d)).join('\n')}\n`);

test('a zstd batch goes as zstd; an indexer that answers 415 to zstd gets it and later ones as gzip, nothing lost', async (t) => {
  const refuseZstd = (s: Seen, res: ServerResponse) =>
    s.encoding === 'zstd' ? res.writeHead(415, { 'content-type': 'application/json' }).end('{"error":"Content-Encoding \\"zstd\\" is not supported"}') : ok(s, res);
  const modern = await indexerStub(t, [ok]);
  const first = setup(t, modern.url);
  await first.spool.put('flows', zstdNdjson({ a: 1 }, { a: 2 }), 2);
  first.shipper.start();
  assert.equal(await first.shipper.drained(5000), true);
  assert.deepEqual(modern.seen.map((s) => [s.encoding, s.lines]), [['zstd', ['{"a":1}', '{"a":2}']]]);

  const older = await indexerStub(t, [refuseZstd]);
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const dir = mkdtempSync(join(tmpdir(), 'procflow-ship-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const spool = new Spool(agentDefaults({ spool_dir: dir, spool_max_size: 1 << 20 }));
  const shipper = new Shipper({ ...agentDefaults(), indexer_url: older.url, token: 'sekret', spool, log, backoff: { baseMs: 50 }, retry_max_delay: 200, request_timeout: 5000, ship_concurrency: 1 });
  t.after(() => shipper.stop());
  await spool.put('flows', zstdNdjson({ b: 1 }), 1);
  await spool.put('flows', zstdNdjson({ b: 2 }), 1);
  await spool.put('flows', ndjson({ b: 3 }), 1);
  shipper.start();
  assert.equal(await shipper.drained(5000), true);
  assert.deepEqual(older.seen.map((s) => [s.encoding, s.lines.join()]), [['zstd', '{"b":1}'], ['gzip', '{"b":1}'], ['gzip', '{"b":2}'], ['gzip', '{"b":3}']],
    'refused once, then every batch as gzip without asking again');
  assert.equal(shipper.stats.sentDocs, 3);
  assert.equal(shipper.stats.failures, 0, 'a 415 to zstd is not a failed attempt');
  assert.equal(warnings.filter((w) => w.includes('does not take zstd')).length, 1);
});

test('after an upgrade, gzip batches an older agent spooled and zstd ones spooled since ship in order, each in its own encoding', async (t) => {
  const stub = await indexerStub(t, [ok]);
  const { dir, spool } = setup(t, stub.url);
  await spool.put('flows', ndjson({ v: 'old' }), 1);
  await spool.put('flows', zstdNdjson({ v: 'new' }), 1);
  assert.deepEqual(readdirSync(dir).filter((n) => n.includes('-flows-')).map((n) => n.replace(/^\d+/, '')).sort(), ['-flows-1.ndjson.gz', '-flows-1.ndjson.zst']);
  // The agent restarts on the same spool directory.
  const again = new Spool(agentDefaults({ spool_dir: dir, spool_max_size: 1 << 20 }));
  assert.equal(again.size, 2);
  const shipper = new Shipper({ ...agentDefaults(), indexer_url: stub.url, token: 'sekret', spool: again, log: pino({ level: 'silent' }), backoff: { baseMs: 50 }, retry_max_delay: 200, request_timeout: 5000, ship_concurrency: 1 });
  t.after(() => shipper.stop());
  shipper.start();
  assert.equal(await shipper.drained(5000), true);
  assert.deepEqual(stub.seen.map((x) => [x.encoding, x.lines.join()]), [['gzip', '{"v":"old"}'], ['zstd', '{"v":"new"}']]);
});

test('503 with Retry-After: the batch waits at least that long, stays spooled, then goes through', async (t) => {
  const stub = await indexerStub(t, [
    (_s, res) => res.writeHead(503, { 'retry-after': '1' }).end('{"error":"elasticsearch unavailable"}'),
    ok,
  ]);
  const { spool, shipper } = setup(t, stub.url, { ship_concurrency: 1 });
  await spool.put('flows', ndjson({ a: 1 }), 1);
  shipper.start();
  assert.equal(await shipper.drained(10_000), true);
  assert.equal(stub.seen.length, 2);
  const gap = stub.seen[1]!.at - stub.seen[0]!.at;
  assert.ok(gap >= 1000, `retried after ${gap} ms, Retry-After said 1 s`);
  assert.deepEqual(stub.seen[1]!.lines, stub.seen[0]!.lines, 'the same batch, byte for byte');
  assert.equal(shipper.stats.failures, 1);
});

test('400: the batch cannot succeed by retrying, so it moves to the dead letter and is counted', async (t) => {
  const stub = await indexerStub(t, [(_s, res) => res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"line 1: unknown field \\"x\\""}'), ok]);
  const { dir, spool, shipper } = setup(t, stub.url);
  await spool.put('flows', ndjson({ x: 1 }), 1);
  shipper.start();
  assert.equal(await shipper.drained(5000), true);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(stub.seen.length, 1, 'not retried');
  assert.equal(shipper.stats.deadLettered, 1);
  assert.equal(spool.stats.deadLetterDocs, 1);
  const dead = readdirSync(join(dir, 'dead-letter'));
  assert.equal(dead.length, 2, 'the batch and its reason');
});

test('indexer down: batches wait on disk and go out when it comes back; 413 halves a batch', async (t) => {
  // Reserve a port, then close it so the first attempts are refused.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { spool, shipper } = setup(t, `http://127.0.0.1:${port}`, { ship_concurrency: 1 });
  await spool.put('flows', ndjson({ a: 1 }, { a: 2 }, { a: 3 }), 3);
  shipper.start();
  await new Promise((r) => setTimeout(r, 400));
  assert.ok(shipper.stats.failures >= 1);
  assert.equal(spool.size, 1, 'still spooled');
  const seen: string[][] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const lines = unpackBatch(Buffer.concat(chunks)).trim().split('\n');
      seen.push(lines);
      if (lines.length > 2) res.writeHead(413).end('too large');
      else res.writeHead(200).end(JSON.stringify({ accepted: lines.length }));
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  assert.equal(await shipper.drained(10_000), true);
  const delivered = seen.filter((l) => l.length <= 2).flat().map((l) => JSON.parse(l).a).sort();
  assert.deepEqual(delivered, [1, 2, 3], 'every document delivered once the batch was split');
});

test('500: a batch the indexer keeps failing is retried --max-server-error-retries times, then dead-lettered, counted and logged; the batch behind it ships meanwhile', async (t) => {
  const order: string[] = [];
  const stub = await indexerStub(t, [(s, res) => {
    const poison = s.lines.some((l) => l.includes('poison'));
    order.push(poison ? 'poison' : 'healthy');
    if (poison) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"elasticsearch refused the bulk request","code":"elasticsearch_bad_request"}');
    else ok(s, res);
  }]);
  const dir = mkdtempSync(join(tmpdir(), 'procflow-ship-5xx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { log, lines } = captureLog();
  const running = await startAgent(agentDefaults({
    indexer_url: stub.url, token: 'sekret', spool_dir: dir, listen: '127.0.0.1:0', ship_concurrency: 1, max_server_error_retries: 2, retry_max_delay: 400,
    procfs_scan: false, flush_interval: 3_600_000, shutdown_timeout: 500,
  }), { collector: new SyntheticCollector(), log });
  t.after(() => running.shutdown());
  await running.spool!.put('flows', ndjson({ poison: true }), 1);
  await running.spool!.put('flows', ndjson({ healthy: 1 }), 1);
  running.shipper!.notify();
  assert.equal(await running.shipper!.drained(10_000), true, 'nothing is retried for ever');
  assert.deepEqual(order, ['poison', 'healthy', 'poison', 'poison'], 'the healthy batch went out while the poison batch waited; 1 attempt + 2 retries');
  const dead = readdirSync(join(dir, 'dead-letter'));
  const reason = JSON.parse(readFileSync(join(dir, 'dead-letter', dead.find((n) => n.endsWith('.reason.json'))!), 'utf8')) as { status: number; body: string };
  assert.equal(reason.status, 500);
  assert.match(reason.body, /answered 500 3 times: .*elasticsearch_bad_request/);
  const metrics = await (await fetch(`${running.server.url}/metrics`)).text();
  assert.match(metrics, /^procflow_agent_dead_letter_batches_total 1$/m);
  assert.match(metrics, /^procflow_agent_ship_failures_total\{reason="http_500"\} 3$/m);
  assert.match(metrics, /^procflow_agent_ship_latency_seconds_count\{kind="flows",outcome="dead-letter"\} 1$/m);
  assert.match(metrics, /^procflow_agent_docs_shipped_total\{kind="flows"\} 1$/m);
  const error = lines.find((l) => l.level === LEVEL.error && /kept failing this batch/.test(l.msg));
  assert.ok(error, 'logged at error');
  assert.equal(error.status, 500);
  assert.match(error.msg, /--max-server-error-retries/);
});

test('503 and network errors stay unbounded: a batch answered 503 more often than --max-server-error-retries still ships', async (t) => {
  const busy = (_s: Seen, res: ServerResponse) => res.writeHead(503).end('{"error":"elasticsearch unavailable"}');
  const stub = await indexerStub(t, [busy, busy, busy, ok]);
  const { spool, shipper } = setup(t, stub.url, { ship_concurrency: 1, max_server_error_retries: 1 });
  await spool.put('flows', ndjson({ a: 1 }), 1);
  shipper.start();
  assert.equal(await shipper.drained(10_000), true);
  assert.equal(stub.seen.length, 4);
  assert.equal(shipper.stats.deadLettered, 0);
  assert.equal(shipper.stats.sentDocs, 1);
});

test('502 from a proxy counts against the batch too; with --max-server-error-retries 0 the first one dead-letters it', async (t) => {
  const stub = await indexerStub(t, [(_s, res) => res.writeHead(502).end('bad gateway'), ok]);
  const { dir, spool, shipper } = setup(t, stub.url, { ship_concurrency: 1, max_server_error_retries: 0 });
  await spool.put('flows', ndjson({ a: 1 }), 1);
  shipper.start();
  assert.equal(await shipper.drained(5000), true);
  assert.equal(stub.seen.length, 1, 'not retried');
  assert.equal(shipper.stats.deadLettered, 1);
  assert.equal(readdirSync(join(dir, 'dead-letter')).length, 2, 'the batch and its reason');
});

test('one batch failing with 500 does not pause shipping: a batch spooled during its backoff goes out at once', async (t) => {
  const stub = await indexerStub(t, [(s, res) => (s.lines.some((l) => l.includes('poison')) ? res.writeHead(500).end('boom') : ok(s, res))]);
  // A backoff of 1 to 2 s: a shipping-wide pause would hold the second batch at least that long.
  const { spool, shipper } = setup(t, stub.url, { ship_concurrency: 1, max_server_error_retries: 5, backoff: { baseMs: 2000 }, retry_max_delay: 4000 });
  await spool.put('flows', ndjson({ poison: true }), 1);
  shipper.start();
  while (shipper.stats.failures === 0) await new Promise((r) => setTimeout(r, 10));
  await spool.put('flows', ndjson({ healthy: true }), 1);
  shipper.notify();
  while (shipper.stats.sentBatches === 0) await new Promise((r) => setTimeout(r, 10));
  const [poison, healthy] = stub.seen;
  assert.match(healthy!.lines[0]!, /healthy/);
  assert.ok(healthy!.at - poison!.at < 500, `the healthy batch waited ${healthy!.at - poison!.at} ms behind the failing one`);
  assert.equal(stub.seen.length, 2, 'the failing batch waits out its own backoff');
});
