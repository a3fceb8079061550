import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { Spool } from '../../agent/spool.js';
import { Shipper } from '../../agent/shipper.js';

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
      const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString();
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

function setup(t: { after(fn: () => void): void }, url: string, extra: { concurrency?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-ship-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const spool = new Spool({ dir, maxBytes: 1 << 20 });
  const shipper = new Shipper({ indexerUrl: url, token: 'sekret', spool, log: pino({ level: process.env.TEST_LOG ?? 'silent' }), backoff: { baseMs: 50, maxMs: 200 }, requestTimeoutMs: 5000, ...extra });
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

test('503 with Retry-After: the batch waits at least that long, stays spooled, then goes through', async (t) => {
  const stub = await indexerStub(t, [
    (_s, res) => res.writeHead(503, { 'retry-after': '1' }).end('{"error":"elasticsearch unavailable"}'),
    ok,
  ]);
  const { spool, shipper } = setup(t, stub.url, { concurrency: 1 });
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
  const { spool, shipper } = setup(t, `http://127.0.0.1:${port}`, { concurrency: 1 });
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
      const lines = gunzipSync(Buffer.concat(chunks)).toString().trim().split('\n');
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
