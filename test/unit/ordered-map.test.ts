// common/ordered-map.ts: the bounded tables' map (process cache, UDP flows, DNS caches, the
// authentication throttle) — Map semantics, order by last set, a cheap oldest key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OrderedMap } from '../../common/ordered-map.js';

/** The queue's length, live and stale items (private: read to check that memory stays bounded). */
function queueLength(m: OrderedMap<unknown, unknown>): number {
  const q = m as unknown as { queueKeys: unknown[]; head: number };
  return q.queueKeys.length - q.head;
}

test('a key set again becomes the newest; deleted keys are skipped; shift takes the oldest', () => {
  const m = new OrderedMap<string, number>();
  m.set('a', 1).set('b', 2).set('c', 3).set('a', 4);
  assert.deepEqual([...m], [['b', 2], ['c', 3], ['a', 4]]);
  assert.equal(m.oldestKey(), 'b');
  m.delete('b');
  assert.deepEqual(m.oldest(), ['c', 3]);
  assert.deepEqual(m.shift(), ['c', 3]);
  assert.equal(m.size, 1);
  assert.equal(m.get('a'), 4);
  assert.equal(m.has('c'), false);
  assert.deepEqual(m.shift(), ['a', 4]);
  assert.equal(m.shift(), undefined);
  assert.equal(m.oldestKey(), undefined);
  m.set('d', 5);
  assert.deepEqual([...m.keys()], ['d']);
  m.clear();
  assert.equal(m.size, 0);
  assert.deepEqual([...m.values()], []);
});

test('deleting during a walk is allowed, and a key set during it is not visited', () => {
  const m = new OrderedMap<number, number>();
  for (let i = 0; i < 10; i++) m.set(i, i);
  const seen: number[] = [];
  for (const [k] of m) {
    seen.push(k);
    m.delete(k + 1);
    if (k === 4) m.set(100, 100);
  }
  assert.deepEqual(seen, [0, 2, 4, 6, 8]);
  assert.deepEqual([...m.keys()], [0, 2, 4, 6, 8, 100]);
});

test('random operations agree with a Map kept in the same order, and the queue stays bounded', () => {
  const m = new OrderedMap<number, number>();
  const model = new Map<number, number>();
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let op = 0; op < 200_000; op++) {
    const k = rand(3000);
    const r = rand(10);
    if (r < 5) {
      m.set(k, op);
      model.delete(k);
      model.set(k, op);
    } else if (r < 8) {
      assert.equal(m.delete(k), model.delete(k));
    } else if (r < 9) {
      const first = model.entries().next();
      assert.deepEqual(m.shift(), first.done ? undefined : first.value);
      if (!first.done) model.delete(first.value[0]);
    } else {
      assert.equal(m.oldestKey(), model.keys().next().value);
    }
    assert.equal(m.size, model.size);
    assert.ok(queueLength(m) <= 2 * m.size + 1025, `the queue holds ${queueLength(m)} items for ${m.size} keys`);
    if (op % 20_000 === 0) assert.deepEqual([...m], [...model]);
  }
  assert.deepEqual([...m], [...model]);
});

test('keys set again and again (the hits of an LRU) leave no trail: stale items are compacted away', () => {
  const m = new OrderedMap<number, number>();
  for (let i = 0; i < 100_000; i++) m.set(i % 10, i);
  assert.deepEqual([...m.keys()], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(queueLength(m) <= 2 * 10 + 1025, `the queue holds ${queueLength(m)} items for 10 keys`);
});

test('a full table that evicts its oldest key for each new one keeps a bounded queue', () => {
  const m = new OrderedMap<string, number>();
  const max = 5000;
  for (let i = 0; i < 100_000; i++) {
    if (m.size >= max) m.shift();
    m.set(`k${i}`, i);
  }
  assert.equal(m.size, max);
  assert.equal(m.oldestKey(), `k${100_000 - max}`);
  assert.ok(queueLength(m) <= 2 * max + 1025);
});
