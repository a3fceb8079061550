// Where a batch's documents live while they are written: each as its _bulk entry (the action
// line with its daily index and id, the document's bytes as they arrived, a newline), written
// once into reusable slabs. The socket and zlib chunks the documents came in then die young; a
// bulk request's body is the slabs' bytes as they are (no copy, no buffer per request); and
// what is kept per document is numbers in typed arrays, not objects, so thousands of documents
// in flight give the garbage collector nothing to trace or promote. The slabs go back to a
// bounded pool when the batch is done, so a steady stream of batches reuses the same memory.

import { randomInt } from 'node:crypto';

const SLAB_BYTES = 512 * 1024;
/** Longer entries keep their own buffer rather than wasting slab space. */
const MAX_PACKED_ENTRY = 64 * 1024;

/** Index arrays of so many entries or fewer go back to the pool (larger batches are rare). */
const MAX_POOLED_ARRAY = 1 << 16;
/** Arrays of one length kept for reuse. */
const POOLED_ARRAYS_PER_LENGTH = 16;

export class SlabPool {
  private readonly free: Buffer[] = [];
  private readonly maxFree: number;
  /** The index arrays of batches done, by length (powers of two). */
  private readonly arrays = new Map<number, Uint32Array[]>();

  /** Keeps at most `retainBytes` of idle slabs (the in-flight byte limit is a natural bound). */
  constructor(retainBytes: number) {
    this.maxFree = Math.max(1, Math.floor(retainBytes / SLAB_BYTES));
  }

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
  }

  give(slab: Buffer): void {
    if (slab.length === SLAB_BYTES && this.free.length < this.maxFree) this.free.push(slab);
  }

  get idleBytes(): number {
    return this.free.length * SLAB_BYTES;
  }

  /** An index array of `length` (a power of two); zeroed when asked. */
  takeArray(length: number, zeroed: boolean): Uint32Array {
    const array = this.arrays.get(length)?.pop();
    if (!array) return new Uint32Array(length);
    if (zeroed) array.fill(0);
    return array;
  }

  giveArray(array: Uint32Array): void {
    if (array.length > MAX_POOLED_ARRAY) return;
    const kept = this.arrays.get(array.length) ?? [];
    if (kept.length < POOLED_ARRAYS_PER_LENGTH) kept.push(array);
    this.arrays.set(array.length, kept);
  }
}

/** Documents are created (never overwritten); dead letters are indexed (a repeat is the same refusal). */
export type BulkOp = 'create' | 'index';

/** A document as the paths that refuse it see it (rare: built on demand). */
export interface PreparedDoc {
  index: string;
  id: string;
  /** The document's JSON exactly as the agent sent it (one line, no newline). */
  source: Buffer;
}

// Index names (dailyIndex) and ids (base64url digests) are plain ASCII without quotes or
// backslashes, so they go into the action line as they are, a byte a character.
const INDEX_TO_ID = Buffer.from('","_id":"');
const ACTION_END = Buffer.from('"}}\n');
const NEWLINE = 0x0a;

// The columns of an entry: its slab, where it starts, where its id starts, where the document
// starts and where the entry ends (after its newline).
const SLAB = 0;
const START = 1;
const ID = 2;
const DOC = 3;
const END = 4;
const COLUMNS = 5;
const NO_ARRAY = new Uint32Array(0);

/** One batch's documents as _bulk entries. `release` only once nothing reads them any more. */
export class BulkEntries {
  count = 0;
  private readonly actionStart: Buffer;
  private readonly slabs: Buffer[] = [];
  private current: Buffer | null = null;
  /** The current slab's number in `slabs`. */
  private currentNo = 0;
  private used = 0;
  private cols: Uint32Array;
  /** Entry numbers (plus one) by id, open addressing, and each one's id hash; for find(). */
  private byId: Uint32Array;
  private hashes: Uint32Array;
  /** The last id find() looked for, and its hash (add() then places it without hashing again). */
  private foundId = '';
  private foundHash = 0;
  /** A batch's documents nearly all share one daily index: its bytes, written once. */
  private lastIndex = '';
  private lastIndexBytes = Buffer.alloc(0);
  /** A request over these bytes ended before Elasticsearch answered it: the slabs are not reused. */
  private tainted = false;

  constructor(
    readonly op: BulkOp,
    private readonly pool: SlabPool,
  ) {
    this.actionStart = Buffer.from(`{"${op}":{"_index":"`);
    this.cols = pool.takeArray(COLUMNS * 256, false);
    this.byId = pool.takeArray(1024, true);
    this.hashes = pool.takeArray(1024, false);
  }

  /** Appends a document's entry (a copy of `doc`); returns its number. */
  add(index: string, id: string, doc: Uint8Array): number {
    if (index !== this.lastIndex) {
      this.lastIndex = index;
      this.lastIndexBytes = Buffer.from(index, 'latin1');
    }
    const indexBytes = this.lastIndexBytes;
    const size = this.actionStart.length + indexBytes.length + INDEX_TO_ID.length + id.length + ACTION_END.length + doc.length + 1;
    let slab: Buffer;
    let slabNo: number;
    let at: number;
    if (size > MAX_PACKED_ENTRY) {
      slab = Buffer.allocUnsafeSlow(size);
      slabNo = this.slabs.push(slab) - 1;
      at = 0;
    } else {
      if (!this.current || this.used + size > this.current.length) {
        this.current = this.pool.take();
        this.currentNo = this.slabs.push(this.current) - 1;
        this.used = 0;
      }
      slab = this.current;
      slabNo = this.currentNo;
      at = this.used;
      this.used += size;
    }
    const n = this.count++;
    if ((n + 1) * COLUMNS > this.cols.length) {
      const grown = this.pool.takeArray(this.cols.length * 2, false);
      grown.set(this.cols);
      this.pool.giveArray(this.cols);
      this.cols = grown;
    }
    const c = n * COLUMNS;
    this.cols[c + SLAB] = slabNo;
    this.cols[c + START] = at;
    at = put(slab, at, this.actionStart);
    at = put(slab, at, indexBytes);
    at = put(slab, at, INDEX_TO_ID);
    this.cols[c + ID] = at;
    for (let k = 0; k < id.length; k++) slab[at++] = id.charCodeAt(k);
    at = put(slab, at, ACTION_END);
    this.cols[c + DOC] = at;
    slab.set(doc, at);
    at += doc.length;
    slab[at++] = NEWLINE;
    this.cols[c + END] = at;
    this.remember(n, id);
    return n;
  }

  /** The entry holding the document with this id, or -1. */
  find(id: string): number {
    const hash = hashId(id);
    this.foundId = id;
    this.foundHash = hash;
    const mask = this.byId.length - 1;
    for (let h = hash & mask; ; h = (h + 1) & mask) {
      const slot = this.byId[h]!;
      if (slot === 0) return -1;
      if (this.hashes[h] === hash && this.hasId(slot - 1, id)) return slot - 1;
    }
  }

  /** The document's own bytes. */
  source(n: number): Buffer {
    const c = n * COLUMNS;
    return this.slabs[this.cols[c + SLAB]!]!.subarray(this.cols[c + DOC], this.cols[c + END]! - 1);
  }

  id(n: number): string {
    const c = n * COLUMNS;
    return this.slabs[this.cols[c + SLAB]!]!.toString('latin1', this.cols[c + ID], this.cols[c + DOC]! - ACTION_END.length);
  }

  index(n: number): string {
    const c = n * COLUMNS;
    return this.slabs[this.cols[c + SLAB]!]!.toString('latin1', this.cols[c + START]! + this.actionStart.length, this.cols[c + ID]! - INDEX_TO_ID.length);
  }

  doc(n: number): PreparedDoc {
    return { index: this.index(n), id: this.id(n), source: this.source(n) };
  }

  /** Bytes of the entry in a bulk body. */
  size(n: number): number {
    const c = n * COLUMNS;
    return this.cols[c + END]! - this.cols[c + START]!;
  }

  /** The entries' bytes in this order, as views of the slabs: neighbours in a slab make one piece. */
  pieces(entries: readonly number[]): Buffer[] {
    const out: Buffer[] = [];
    let slab = -1;
    let from = 0;
    let to = 0;
    for (const n of entries) {
      const c = n * COLUMNS;
      const s = this.cols[c + SLAB]!;
      if (s === slab && this.cols[c + START] === to) {
        to = this.cols[c + END]!;
        continue;
      }
      if (slab >= 0) out.push(this.slabs[slab]!.subarray(from, to));
      slab = s;
      from = this.cols[c + START]!;
      to = this.cols[c + END]!;
    }
    if (slab >= 0) out.push(this.slabs[slab]!.subarray(from, to));
    return out;
  }

  /**
   * A request over these entries ended without Elasticsearch's answer (aborted, cut off, refused
   * as a whole): the socket may still hold views of the slabs, so they are left to the garbage
   * collector instead of going back to the pool.
   */
  taint(): void {
    this.tainted = true;
  }

  /** Gives the slabs and index arrays back; nothing may be read from the entries after this. */
  release(): void {
    const slabs = this.slabs.splice(0);
    if (!this.tainted) for (const slab of slabs) this.pool.give(slab);
    // No socket reads the index arrays: they go back even when the slabs cannot.
    for (const array of [this.cols, this.byId, this.hashes]) if (array.length) this.pool.giveArray(array);
    this.cols = this.byId = this.hashes = NO_ARRAY;
    this.current = null;
    this.count = 0;
  }

  private hasId(n: number, id: string): boolean {
    const c = n * COLUMNS;
    const slab = this.slabs[this.cols[c + SLAB]!]!;
    const at = this.cols[c + ID]!;
    if (this.cols[c + DOC]! - ACTION_END.length - at !== id.length) return false;
    for (let k = 0; k < id.length; k++) if (slab[at + k] !== id.charCodeAt(k)) return false;
    return true;
  }

  private remember(n: number, id: string): void {
    if (this.count * 2 > this.byId.length) {
      const [slots, hashes] = [this.byId, this.hashes];
      this.byId = this.pool.takeArray(slots.length * 2, true);
      this.hashes = this.pool.takeArray(slots.length * 2, false);
      for (let h = 0; h < slots.length; h++) if (slots[h] !== 0) this.place(slots[h]! - 1, hashes[h]!);
      this.pool.giveArray(slots);
      this.pool.giveArray(hashes);
    }
    this.place(n, id === this.foundId ? this.foundHash : hashId(id));
  }

  private place(n: number, hash: number): void {
    const mask = this.byId.length - 1;
    let h = hash & mask;
    while (this.byId[h] !== 0) h = (h + 1) & mask;
    this.byId[h] = n + 1;
    this.hashes[h] = hash;
  }
}

/** Copies a few bytes (a loop costs less than a call to set() for these). */
function put(to: Buffer, at: number, bytes: Buffer): number {
  for (let k = 0; k < bytes.length; k++) to[at++] = bytes[k]!;
  return at;
}

/** Keyed per process, so no sender can choose ids that collide in the table. */
const HASH_SEED = randomInt(2 ** 31);

function hashId(id: string): number {
  let h = 0x811c9dc5 ^ HASH_SEED;
  for (let k = 0; k < id.length; k++) h = Math.imul(h ^ id.charCodeAt(k), 0x01000193);
  return h >>> 0;
}
