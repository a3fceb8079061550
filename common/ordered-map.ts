// A Map whose oldest key is cheap to find, for the bounded tables that evict their oldest entry
// (FIFO) or their least recently used one (set moves a key to the new end).
//
// Why not a plain Map: V8's Map leaves a hole for every deleted key until its table is next
// rebuilt, and `keys().next()` walks the holes from the start. A full table that deletes its
// oldest key for every new one keeps as many holes as it has keys, so each eviction walks them
// all: about 20 µs per eviction at 65,536 keys (the process cache's default), the cost of a
// whole exec. Here the order is a queue of (key, sequence number) beside the Map; an entry that
// was deleted or moved leaves a stale item that is skipped once, when it reaches the head, and
// the queue is compacted whenever stale items outnumber live ones, so memory stays in
// proportion to the keys held and every operation is O(1) amortised.

interface Slot<V> {
  value: V;
  /** The sequence number of the key's live item in the queue. */
  seq: number;
}

/** Queues shorter than this are never compacted (the work would outweigh the memory). */
const COMPACT_MIN = 1024;

export class OrderedMap<K, V> implements Iterable<[K, V]> {
  private readonly slots = new Map<K, Slot<V>>();
  private queueKeys: K[] = [];
  private queueSeqs: number[] = [];
  /** Index of the first item in the queue that may be live. */
  private head = 0;
  private nextSeq = 0;

  get size(): number {
    return this.slots.size;
  }

  has(key: K): boolean {
    return this.slots.has(key);
  }

  get(key: K): V | undefined {
    return this.slots.get(key)?.value;
  }

  /** Sets the value and makes `key` the newest, whether it was there or not. */
  set(key: K, value: V): this {
    const seq = this.nextSeq++;
    // One Map operation: a fresh slot either way (a key that was there leaves a stale queue item,
    // skipped like any other). A lookup first would cost a second walk of the table, and in a
    // large table each walk is mostly waiting for memory.
    this.slots.set(key, { value, seq });
    this.queueKeys.push(key);
    this.queueSeqs.push(seq);
    if (this.queueKeys.length - this.head > 2 * this.slots.size + COMPACT_MIN) this.compact();
    return this;
  }

  delete(key: K): boolean {
    return this.slots.delete(key);
  }

  clear(): void {
    this.slots.clear();
    this.queueKeys = [];
    this.queueSeqs = [];
    this.head = 0;
  }

  /** The oldest key (first set, or least recently set), without removing it. */
  oldestKey(): K | undefined {
    while (this.head < this.queueKeys.length) {
      const key = this.queueKeys[this.head]!;
      if (this.slots.get(key)?.seq === this.queueSeqs[this.head]) return key;
      this.head++;
    }
    return undefined;
  }

  /** The oldest entry, without removing it. */
  oldest(): [K, V] | undefined {
    const key = this.oldestKey();
    return key === undefined ? undefined : [key, this.slots.get(key)!.value];
  }

  /** Removes and returns the oldest entry. */
  shift(): [K, V] | undefined {
    const first = this.oldest();
    if (first) {
      this.slots.delete(first[0]);
      this.head++;
    }
    if (this.head > COMPACT_MIN && this.head * 2 > this.queueKeys.length) this.compact();
    return first;
  }

  /**
   * Entries oldest first: those there when the walk starts, less those deleted or set again
   * during it (a key set during the walk is not visited).
   */
  *entries(): IterableIterator<[K, V]> {
    const keys = this.queueKeys;
    const seqs = this.queueSeqs;
    const end = keys.length;
    for (let i = this.head; i < end; i++) {
      const key = keys[i]!;
      const slot = this.slots.get(key);
      if (slot !== undefined && slot.seq === seqs[i]) yield [key, slot.value];
      // Stale items at the head are dropped on the way (unless the queue was compacted meanwhile).
      else if (i === this.head && keys === this.queueKeys) this.head++;
    }
  }

  *keys(): IterableIterator<K> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  /** Drops the stale items: the queue keeps only each key's live one, in order. */
  private compact(): void {
    const keys: K[] = [];
    const seqs: number[] = [];
    for (let i = this.head; i < this.queueKeys.length; i++) {
      const key = this.queueKeys[i]!;
      const seq = this.queueSeqs[i]!;
      if (this.slots.get(key)?.seq === seq) {
        keys.push(key);
        seqs.push(seq);
      }
    }
    this.queueKeys = keys;
    this.queueSeqs = seqs;
    this.head = 0;
  }
}
