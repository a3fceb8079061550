import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { unpackBatch } from '../support/batches.js';
import { pino } from 'pino';
import { AgentMetrics } from '../../agent/metrics.js';
import { Spool } from '../../agent/delivery/spool.js';
import { SpoolSink, StreamSink } from '../../agent/delivery/sink.js';
import { sampleFlowLog } from '../support/documents.js';
import { skipOrFail } from '../support/environment.js';
import { agentDefaults, type AgentConfig } from '../../agent/config.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'procflow-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const body = (n: number) => Buffer.alloc(n, 1);

/** A spool in `dir` as the CLI makes it: the settings at their defaults but those given. */
const spoolIn = (dir: string, c: Partial<AgentConfig> = {}) => new Spool(agentDefaults({ spool_dir: dir, ...c }));

/** A valid flow log told apart by its source port. */
const flow = (i: number, over: Record<string, unknown> = {}) => sampleFlowLog({ source_port: 1000 + i, ...over });

test('a full spool drops the oldest batches and counts batches and documents', async (t) => {
  const dir = tempDir(t);
  const spool = spoolIn(dir, { spool_max_size: 1000 });
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
  const first = spoolIn(dir, { spool_max_size: 1 << 20 });
  await first.put('flows', gzipSync('{"a":1}\n'), 1);
  await first.put('process', gzipSync('{"b":2}\n{"b":3}\n'), 2);
  writeFileSync(join(dir, '0000000000000099-flows-1.ndjson.gz.tmp'), 'torn');
  const second = spoolIn(dir, { spool_max_size: 1 << 20 });
  assert.equal(second.resumed, 2);
  assert.ok(!readdirSync(dir).some((n) => n.endsWith('.tmp')));
  const b1 = second.claim()!;
  assert.equal(b1.kind, 'flows');
  assert.equal(unpackBatch(await second.read(b1)), '{"a":1}\n');
  await second.remove(b1);
  const b2 = second.claim()!;
  assert.equal(b2.kind, 'process');
  assert.equal(b2.docs, 2);
  await second.put('flows', gzipSync('{"c":4}\n'), 1);
  assert.ok(second.claim()!.seq > b2.seq, 'new batches get newer sequence numbers after a restart');
});

test('dead-lettered batches keep their reason and are bounded', async (t) => {
  const dir = tempDir(t);
  const spool = spoolIn(dir, { spool_max_size: 1 << 20, dead_letter_max_size: 500 });
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
  const spool = spoolIn(dir, { spool_max_size: 1 << 20 });
  let notified = 0;
  const sink = new SpoolSink(spool, agentDefaults({ batch_max_docs: 3, batch_max_size: 1 << 20 }), () => notified++);
  const docs = Array.from({ length: 7 }, (_, i) => flow(i));
  assert.equal(await sink.write('flows', docs), 7);
  assert.equal(spool.size, 3);
  assert.equal(notified, 3);
  const lines: string[] = [];
  for (let b = spool.claim(); b; b = spool.claim()) lines.push(...unpackBatch(await spool.read(b)).trim().split('\n'));
  assert.deepEqual(lines.map((l) => JSON.parse(l).source_port - 1000), [0, 1, 2, 3, 4, 5, 6]);
});

test('the spool sink pulls documents lazily: each batch is spooled before the next is produced', async (t) => {
  const dir = tempDir(t);
  const spool = spoolIn(dir, { spool_max_size: 1 << 20 });
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
      yield flow(i);
    }
  }
  assert.equal(await new SpoolSink(spool, agentDefaults({ batch_max_docs: 4, batch_max_size: 1 << 20 })).write('flows', docs()), 10);
  // A batch is cut when the document that does not fit is produced: 5 made for the first 4.
  assert.deepEqual(producedAtPut, [5, 9, 10]);
});

test('the spool sink cuts batches by UTF-8 bytes and keeps every character', async (t) => {
  const dir = tempDir(t);
  const spool = spoolIn(dir, { spool_max_size: 1 << 20 });
  // Lines with 100 two-byte characters: by bytes six fit in the batch; counting characters would put seven.
  const docs = Array.from({ length: 20 }, (_, i) => flow(i, { process_name: `/usr/bin/${'é'.repeat(100)}` }));
  const lineBytes = Buffer.byteLength(JSON.stringify(docs[0])) + 1;
  const maxBytes = Math.max(6 * lineBytes, 7 * (lineBytes - 100));
  assert.ok(maxBytes < 7 * lineBytes);
  const sink = new SpoolSink(spool, agentDefaults({ batch_max_size: maxBytes, batch_max_docs: 1000 }));
  const big = flow(99, { process_name: `/usr/bin/${'x'.repeat(maxBytes)}` }); // larger than a batch: a batch of its own
  assert.equal(await sink.write('flows', [...docs.slice(0, 10), big, ...docs.slice(10)]), 21);
  const lines: string[] = [];
  for (let b = spool.claim(); b; b = spool.claim()) {
    const text = Buffer.from(unpackBatch(await spool.read(b)));
    assert.ok(text.length <= maxBytes || b.docs === 1, `batch of ${text.length} bytes, ${b.docs} docs`);
    assert.ok(b.docs <= 6 || b.docs === 1, `batch of ${b.docs} docs`);
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

test('StreamSink.hold writes the bytes write() writes, across blocks, and holds nothing after', async () => {
  const collect = () => {
    const parts: Buffer[] = [];
    const out = new Writable({ write: (c: Buffer, _e, done) => (parts.push(Buffer.from(c)), done()) });
    return { out, bytes: () => Buffer.concat(parts) };
  };
  // Past one 256 KiB block, with multi-byte text, a document larger than a block, and one with a shared part.
  const shared = { name: 'é'.repeat(10), n: 1 };
  const docs: object[] = Array.from({ length: 3000 }, (_, i) => ({ i, text: `ünïcødé ${'x'.repeat(i % 300)} 日本`, parent: shared }));
  docs.splice(1500, 0, { big: 'b'.repeat(300_000) });
  const a = collect();
  assert.equal(await new StreamSink(a.out).write('process', docs), docs.length);
  const b = collect();
  const held = new StreamSink(b.out).hold('process');
  for (const d of docs) held.add(d);
  assert.equal(held.count, docs.length);
  assert.equal(await held.write(), docs.length);
  assert.equal(held.count, 0);
  assert.equal(await held.write(), 0, 'nothing held twice');
  assert.ok(a.bytes().equals(b.bytes()));
  assert.equal(b.bytes().toString().split('\n').length, docs.length + 1);
  // A document JSON cannot hold: the others are written, and the write fails as write() would.
  held.add({ n: 1n });
  held.add({ ok: true });
  await assert.rejects(held.write(), TypeError);
  assert.ok(b.bytes().toString().endsWith('{"ok":true}\n'));
});

test('invalid documents go to the dead letter with the reason, counted and logged once; the rest of the batch is spooled', async (t) => {
  const dir = tempDir(t);
  const spool = spoolIn(dir, { spool_max_size: 1 << 20 });
  const logged: { msg: string; invalidDocs: number; first: string }[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, done) => (logged.push(JSON.parse(c.toString())), done()) }));
  const sink = new SpoolSink(spool, { ...agentDefaults({ batch_max_docs: 5000 }), log });
  const docs: object[] = Array.from({ length: 10 }, (_, i) => flow(i));
  docs.splice(3, 0, { ...flow(100), color: 'blue' });
  docs.splice(8, 0, flow(101, { bytes_in: 'lots' }));
  assert.equal(await sink.write('flows', docs), 12);
  await sink.write('flows', [flow(200), { ...flow(102), color: 'red' }]);

  assert.equal(spool.size, 2, 'one batch per write, of the valid documents');
  const sent: number[] = [];
  for (let b = spool.claim(); b; b = spool.claim()) sent.push(...unpackBatch(await spool.read(b)).trim().split('\n').map((l) => JSON.parse(l).source_port - 1000));
  assert.deepEqual(sent, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 200]);

  assert.deepEqual(spool.stats.invalidDocs, { flows: 3, process: 0, dns: 0 });
  assert.equal(spool.stats.deadLetterDocs, 3);
  const deadDir = join(dir, 'dead-letter');
  const dead = readdirSync(deadDir).sort();
  const batches = dead.filter((n) => n.endsWith('.ndjson.zst'));
  assert.equal(batches.length, 2);
  const first = unpackBatch(readFileSync(join(deadDir, batches[0]!))).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(first.map((d) => d.source_port), [1100, 1101]);
  const reason = JSON.parse(readFileSync(join(deadDir, batches[0]!.replace('.ndjson.zst', '.reason.json')), 'utf8'));
  assert.match(reason.body, /failed validation/);
  assert.equal(reason.lines.length, 2);
  assert.deepEqual(reason.lines[0], { line: 1, reason: 'unknown field "color"' });
  assert.match(reason.lines[1].reason, /bytes_in.*integer/);

  // Logged, but not once per write: the second write's invalid document only counts.
  assert.equal(logged.length, 1, JSON.stringify(logged));
  assert.equal(logged[0]!.invalidDocs, 2);
  assert.equal(logged[0]!.first, 'unknown field "color"');

  const metrics = new AgentMetrics();
  metrics.mirrorSpoolRejects(spool.stats);
  const text = await metrics.registry.metrics();
  assert.match(text, /procflow_agent_documents_invalid_total\{kind="flows"\} 3/);
  assert.match(text, /procflow_agent_documents_invalid_total\{kind="process"\} 0/);
});

test('a document JSON cannot hold (a bigint) is dead-lettered instead of failing the interval', async (t) => {
  const dir = tempDir(t);
  const spool = spoolIn(dir, { spool_max_size: 1 << 20 });
  const sink = new SpoolSink(spool, agentDefaults());
  assert.equal(await sink.write('flows', [flow(1), flow(2, { bytes_out: 5n })]), 2);
  assert.equal(spool.size, 1);
  assert.equal(spool.stats.invalidDocs.flows, 1);
  const dead = readdirSync(join(dir, 'dead-letter')).find((n) => n.endsWith('.ndjson.zst'))!;
  assert.equal(JSON.parse(unpackBatch(readFileSync(join(dir, 'dead-letter', dead)))).bytes_out, '5');
});

test('spool and dead-letter files are fsynced before the rename that publishes them, and their directory after it', (t) => {
  const probe = spawnSync('strace', ['-f', '-o', '/dev/null', 'true']);
  if (probe.error || probe.status !== 0) return void skipOrFail(t, `strace is needed to watch the system calls: ${probe.error?.message ?? probe.stderr.toString().trim()}`);
  const dir = tempDir(t);
  const spoolUrl = new URL('../../agent/delivery/spool.js', import.meta.url).href;
  const script = `
    import { Spool } from ${JSON.stringify(spoolUrl)};
    const spool = new Spool({ spool_dir: ${JSON.stringify(dir)}, spool_max_size: 1 << 20, dead_letter_max_size: 1 << 20 });
    await spool.put('flows', Buffer.from('batch'), 1);
    await spool.deadLetterDocuments('process', Buffer.from('bad'), 1, { status: 0, body: 'invalid' });
    await spool.put('flows', Buffer.from('batch two'), 1);
    await spool.moveToDeadLetter(spool.claim(), { status: 400, body: 'rejected' });
  `;
  const trace = join(dir, 'trace');
  const run = spawnSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', trace, process.execPath, '--input-type=module', '-e', script]);
  assert.equal(run.status, 0, run.stderr.toString());
  // One call a line ("<pid> fdatasync(21</path>) = 0"); -f may split a call around a thread switch.
  const calls = readFileSync(trace, 'utf8').split('\n').filter((l) => /(fsync|fdatasync|rename\w*)\(/.test(l) && !/unfinished/.test(l));
  const at = (re: RegExp, from = 0) => calls.findIndex((l, i) => i >= from && re.test(l));
  const esc = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const published = calls.filter((l) => /rename/.test(l) && /\.tmp"/.test(l));
  assert.equal(published.length, 5, `every file written via a temporary name (2 batches, 1 dead-letter batch, 2 reasons):\n${calls.join('\n')}`);
  for (const line of published) {
    const [, tmp = '', final = ''] = /"([^"]+\.tmp)", [^"]*"([^"]+)"/.exec(line) ?? [];
    const renameAt = calls.indexOf(line);
    const synced = at(new RegExp(`f(data)?sync\\(\\d+<${esc(tmp)}>\\)`));
    assert.ok(synced !== -1 && synced < renameAt, `${tmp} fsynced before its rename:\n${calls.join('\n')}`);
    const parent = final.slice(0, final.lastIndexOf('/'));
    assert.ok(at(new RegExp(`fsync\\(\\d+<${esc(parent)}>\\)`), renameAt) !== -1, `${parent} fsynced after ${final} appeared:\n${calls.join('\n')}`);
  }
  // A batch moved into the dead letter: the dead-letter directory is fsynced after the move.
  const moved = at(/rename\w*\([^)]*-flows-1\.ndjson\.gz", [^)]*dead-letter/);
  assert.ok(moved !== -1, calls.join('\n'));
  assert.ok(at(new RegExp(`fsync\\(\\d+<${esc(join(dir, 'dead-letter'))}>\\)`), moved) !== -1, calls.join('\n'));
});

test('SpoolSink.hold spools the batches write() spools, cut by documents and bytes, and dead-letters the invalid ones', async (t) => {
  // Lines of different lengths and multi-byte characters, so the cuts by bytes fall mid-block.
  const docs: object[] = Array.from({ length: 40 }, (_, i) => flow(i, { process_name: `/usr/bin/${'é'.repeat(i * 7)}` }));
  docs.splice(5, 0, { ...flow(300), color: 'blue' });
  docs.splice(20, 0, flow(301, { bytes_out: 5n }));
  const limits = agentDefaults({ batch_max_docs: 7, batch_max_size: 2500 });
  const spooled = async (use: (sink: SpoolSink) => Promise<number>) => {
    const dir = tempDir(t);
    const spool = spoolIn(dir, { spool_max_size: 1 << 20 });
    assert.equal(await use(new SpoolSink(spool, limits)), docs.length);
    const batches: string[] = [];
    for (let b = spool.claim(); b; b = spool.claim()) batches.push(`${b.docs}:${unpackBatch(await spool.read(b))}`);
    return { batches, invalid: spool.stats.invalidDocs.flows, deadDocs: spool.stats.deadLetterDocs };
  };
  const written = await spooled((sink) => sink.write('flows', docs));
  const held = await spooled(async (sink) => {
    const h = sink.hold('flows');
    for (const d of docs) h.add(d);
    assert.equal(h.count, docs.length);
    const n = await h.write();
    assert.equal(h.count, 0, 'nothing held after the write');
    assert.equal(await h.write(), 0);
    return n;
  });
  assert.ok(written.batches.length > 6, `cut into ${written.batches.length} batches`);
  assert.deepEqual(held, written);
  assert.equal(held.invalid, 2);
});

test('a spool left with 150,000 batches opens, resumes them in order and drains them one by one', async (t) => {
  // A quiet node whose indexer was away for days leaves a batch or two per interval: more than a
  // call's arguments can hold (Math.max(...seqs) overflowed the stack at about 125,000).
  const dir = tempDir(t);
  const n = 150_000;
  for (let i = 1; i <= n; i++) writeFileSync(join(dir, `${String(i * 2).padStart(16, '0')}-process-1.ndjson.gz`), 'x');
  const spool = spoolIn(dir);
  assert.equal(spool.resumed, n);
  assert.equal(spool.stats.bytes, n);
  assert.equal(await spool.put('flows', body(10), 1), true);
  // Numbered after the highest batch found.
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('-flows-')), [`${String(n * 2 + 1).padStart(16, '0')}-flows-1.ndjson.gz`]);
  // Oldest first, each claimed batch acknowledged before the next is claimed.
  let last = 0;
  for (let b = spool.claim(); b; b = spool.claim()) {
    assert.ok(b.seq > last);
    last = b.seq;
    spool.forget(b);
  }
  assert.equal(last, n * 2 + 1);
  assert.equal(spool.size, 0);
  assert.equal(spool.stats.bytes, 0);
});
