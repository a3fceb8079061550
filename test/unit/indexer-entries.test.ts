// A batch's _bulk entries (indexer/arena.ts) and the bodies made of them: byte-exact entries,
// documents found again by id, bodies that are the slabs' bytes, slabs reused only when no
// request over them was cut off.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BulkEntries, SlabPool } from '../../indexer/arena.js';
import { bulkBody, splitByBytes } from '../../indexer/bulk-body.js';

const drain = async (group: readonly number[], entries: BulkEntries): Promise<string> => {
  const pieces: Buffer[] = [];
  for await (const piece of bulkBody(entries, group)) pieces.push(piece as Buffer);
  return Buffer.concat(pieces).toString('utf8');
};

const doc = (n: number, pad = 0) => Buffer.from(JSON.stringify({ n, text: 'é'.repeat(pad) }));
const idOf = (n: number) => `id-${String(n).padStart(24, '0')}`;

describe('bulk entries', () => {
  it('are the action line, the document as sent and a newline, read back whole', async () => {
    const entries = new BulkEntries('create', new SlabPool(1 << 20));
    entries.add('procflow-flows-2026.03.04', idOf(1), doc(1));
    entries.add('procflow-flows-2026.03.05', idOf(2), doc(2));
    const expected = [1, 2].map((n) => `{"create":{"_index":"procflow-flows-2026.03.0${n + 3}","_id":"${idOf(n)}"}}\n${doc(n).toString()}\n`).join('');
    assert.equal(await drain([0, 1], entries), expected);
    assert.deepEqual(entries.doc(1), { index: 'procflow-flows-2026.03.05', id: idOf(2), source: doc(2) });
    assert.equal(entries.size(0), Buffer.byteLength(expected) / 2);
    const dead = new BulkEntries('index', new SlabPool(1 << 20));
    dead.add('procflow-deadletter-2026.03.04', 'x', doc(3));
    assert.match(await drain([0], dead), /^\{"index":\{"_index":"procflow-deadletter-2026\.03\.04","_id":"x"\}\}\n/);
  });

  it('find documents by id among thousands, and only those', () => {
    const entries = new BulkEntries('create', new SlabPool(1 << 20));
    for (let n = 0; n < 5000; n++) entries.add('i', idOf(n), doc(n));
    for (let n = 0; n < 5000; n += 7) assert.equal(entries.find(idOf(n)), n);
    assert.equal(entries.find(idOf(5000)), -1);
    assert.equal(entries.find('id-'), -1);
  });

  it('make a body of as few pieces as the slabs allow, in the order asked, large documents apart', async () => {
    const entries = new BulkEntries('create', new SlabPool(1 << 20));
    for (let n = 0; n < 3000; n++) entries.add('i', idOf(n), doc(n, n === 1500 ? 40_000 : 0));
    assert.ok(entries.pieces([...Array(3000).keys()]).length <= 8, 'neighbours in a slab are one piece');
    const groups = splitByBytes(entries, 64 * 1024);
    assert.deepEqual(groups.flat(), [...Array(3000).keys()], 'every entry once, in order');
    const total = [...Array(3000).keys()].reduce((sum, n) => sum + entries.size(n), 0);
    assert.equal(groups.length, Math.ceil(total / (64 * 1024)), 'as few groups as the size allows');
    const sizes = groups.map((g) => g.reduce((sum, n) => sum + entries.size(n), 0));
    assert.ok(sizes.slice(0, -1).every((s) => s < 64 * 1024 + 41_000), 'about the size (a large document may pass it)');
    const some = [2999, 5, 6, 1500, 0];
    const body = await drain(some, entries);
    const lines = body.split('\n');
    assert.deepEqual(some.map((_, k) => JSON.parse(lines[2 * k + 1]!).n), some);
    assert.equal(JSON.parse(lines[7]!).text.length, 40_000);
  });

  it('go back to the pool when done (the slabs only if no request over them was cut off)', () => {
    const pool = new SlabPool(8 << 20);
    const fill = () => {
      const entries = new BulkEntries('create', pool);
      for (let n = 0; n < 2000; n++) entries.add('i', idOf(n), doc(n));
      return entries;
    };
    const a = fill();
    a.release();
    const idle = pool.idleBytes;
    assert.ok(idle > 0);
    const b = fill();
    assert.ok(pool.idleBytes < idle, 'slabs are taken from the pool');
    assert.deepEqual([0, 999, 1999, 2000].map((n) => b.find(idOf(n))), [0, 999, 1999, -1], 'reused index arrays start empty');
    b.taint();
    b.release();
    assert.ok(pool.idleBytes < idle, 'tainted slabs are not given back');
  });
});
