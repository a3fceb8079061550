import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Spool } from '../../agent/spool.js';
import { SpoolSink, StreamSink } from '../../agent/sink.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const body = (n: number) => Buffer.alloc(n, 1);

test('a full spool drops the oldest batches and counts batches and documents', async (t) => {
  const dir = tempDir(t);
  const spool = new Spool({ dir, maxBytes: 1000 });
  for (let i = 0; i < 4; i++) assert.equal(await spool.put('flows', body(300), 10 + i), true);
  // 4 x 300 > 1000: the first batch had to go
  assert.equal(spool.size, 3);
  assert.equal(spool.stats.droppedBatches, 1);
  assert.equal(spool.stats.droppedDocs, 10);
  assert.equal(spool.stats.bytes, 900);
  const names = readdirSync(dir).filter((n) => n.endsWith('.gz'));
  assert.equal(names.length, 3);
  assert.ok(!names.some((n) => n.endsWith('-10.ndjson.gz')), 'the oldest (10 docs) is gone from disk');
  // Batches being sent are not dropped: the new batch is refused instead, and counted.
  const a = spool.claim()!, b = spool.claim()!, c = spool.claim()!;
  assert.ok(a && b && c && !spool.claim());
  assert.equal(await spool.put('process', body(300), 5), false);
  assert.equal(spool.stats.droppedDocs, 15);
  assert.equal(await spool.put('process', body(2000), 7), false, 'a batch bigger than the spool is dropped');
  assert.equal(spool.stats.droppedBatches, 3);
});

test('a restarted spool resumes the batches left on disk, oldest first, and removes torn writes', async (t) => {
  const dir = tempDir(t);
  const first = new Spool({ dir, maxBytes: 1 << 20 });
  await first.put('flows', gzipSync('{"a":1}\n'), 1);
  await first.put('process', gzipSync('{"b":2}\n{"b":3}\n'), 2);
  writeFileSync(join(dir, '0000000000000099-flows-1.ndjson.gz.tmp'), 'torn');
  const second = new Spool({ dir, maxBytes: 1 << 20 });
  assert.equal(second.resumed, 2);
  assert.ok(!readdirSync(dir).some((n) => n.endsWith('.tmp')));
  const b1 = second.claim()!;
  assert.equal(b1.kind, 'flows');
  assert.equal(gunzipSync(await second.read(b1)).toString(), '{"a":1}\n');
  await second.remove(b1);
  const b2 = second.claim()!;
  assert.equal(b2.kind, 'process');
  assert.equal(b2.docs, 2);
  await second.put('flows', gzipSync('{"c":4}\n'), 1);
  assert.ok(second.claim()!.seq > b2.seq, 'new batches get newer sequence numbers after a restart');
});

test('dead-lettered batches keep their reason and are bounded', async (t) => {
  const dir = tempDir(t);
  const spool = new Spool({ dir, maxBytes: 1 << 20, deadLetterMaxBytes: 500 });
  for (let i = 0; i < 3; i++) await spool.put('flows', body(300), 3);
  for (let i = 0; i < 3; i++) await spool.moveToDeadLetter(spool.claim()!, { status: 400, body: `line ${i + 1}: bad` });
  assert.equal(spool.size, 0);
  assert.equal(spool.stats.deadLetterBatches, 3);
  assert.equal(spool.stats.deadLetterDocs, 9);
  assert.equal(spool.stats.deadLetterDroppedBatches, 2);
  const dead = readdirSync(join(dir, 'dead-letter'));
  assert.equal(dead.filter((n) => n.endsWith('.gz')).length, 1);
  const reason = JSON.parse(readFileSync(join(dir, 'dead-letter', dead.find((n) => n.endsWith('.reason.json'))!), 'utf8'));
  assert.equal(reason.status, 400);
  assert.equal(reason.body, 'line 3: bad');
});

test('the spool sink cuts batches by documents and bytes', async (t) => {
  const dir = tempDir(t);
  const spool = new Spool({ dir, maxBytes: 1 << 20 });
  let notified = 0;
  const sink = new SpoolSink(spool, { maxDocs: 3, maxBytes: 1 << 20 }, () => notified++);
  const docs = Array.from({ length: 7 }, (_, i) => ({ i }));
  assert.equal(await sink.write('flows', docs), 7);
  assert.equal(spool.size, 3);
  assert.equal(notified, 3);
  const lines: string[] = [];
  for (let b = spool.claim(); b; b = spool.claim()) lines.push(...gunzipSync(await spool.read(b)).toString().trim().split('\n'));
  assert.deepEqual(lines.map((l) => JSON.parse(l).i), [0, 1, 2, 3, 4, 5, 6]);
});

test('the spool sink pulls documents lazily: each batch is spooled before the next is produced', async (t) => {
  const dir = tempDir(t);
  const spool = new Spool({ dir, maxBytes: 1 << 20 });
  let produced = 0;
  const producedAtPut: number[] = [];
  const put = spool.put.bind(spool);
  spool.put = (kind, body, docs) => {
    producedAtPut.push(produced);
    return put(kind, body, docs);
  };
  function* docs() {
    for (let i = 0; i < 10; i++) {
      produced++;
      yield { i };
    }
  }
  assert.equal(await new SpoolSink(spool, { maxDocs: 4, maxBytes: 1 << 20 }).write('flows', docs()), 10);
  // A batch is cut when the document that does not fit is produced: 5 made for the first 4.
  assert.deepEqual(producedAtPut, [5, 9, 10]);
});

test('the spool sink cuts batches by UTF-8 bytes and keeps every character', async (t) => {
  const dir = tempDir(t);
  const spool = new Spool({ dir, maxBytes: 1 << 20 });
  const sink = new SpoolSink(spool, { maxBytes: 100, maxDocs: 1000 });
  // Lines of 12 characters but 15 bytes (+ newline): six fit in 100 bytes; counting characters would put seven.
  const docs = Array.from({ length: 20 }, (_, i) => ({ s: `é€${String(i).padStart(2, '0')}` }));
  const big = { s: 'x'.repeat(500) }; // larger than a batch: a batch of its own
  assert.equal(await sink.write('flows', [...docs.slice(0, 10), big, ...docs.slice(10)]), 21);
  const lines: string[] = [];
  for (let b = spool.claim(); b; b = spool.claim()) {
    const text = gunzipSync(await spool.read(b));
    assert.ok(text.length <= 100 || b.docs === 1, `batch of ${text.length} bytes, ${b.docs} docs`);
    lines.push(...text.toString('utf8').trim().split('\n'));
  }
  assert.deepEqual(lines.map((l) => JSON.parse(l)), [...docs.slice(0, 10), big, ...docs.slice(10)]);
});

test('sinks give the event loop turns during a long write', async () => {
  const { PassThrough } = await import('node:stream');
  const out = new PassThrough();
  out.resume();
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const many = Array.from({ length: 5000 }, (_, i) => ({ i, pad: 'p'.repeat(100) }));
  try {
    assert.equal(await new StreamSink(out).write('flows', many), 5000);
  } finally {
    clearInterval(ticker);
  }
  assert.ok(turns > 0, 'a timer ran while 5000 documents were written');
});
