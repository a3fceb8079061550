// Where a batch's documents live while it is being written: copied into reusable slabs instead
// of keeping the socket/zlib chunks they arrived in. Those chunks then die young, and the slabs
// go back to a bounded pool when the batch is done, so a steady stream of batches reuses the
// same memory instead of leaving tens of megabytes of old buffers for the next full GC.

const SLAB_BYTES = 512 * 1024;
/** Longer lines keep their own buffer rather than wasting slab space. */
const MAX_PACKED_LINE = 64 * 1024;

export class SlabPool {
  private readonly free: Buffer[] = [];
  private readonly maxFree: number;

  /** Keeps at most `retainBytes` of idle slabs (the in-flight byte limit is a natural bound). */
  constructor(retainBytes: number) {
    this.maxFree = Math.max(1, Math.floor(retainBytes / SLAB_BYTES));
  }

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
  }

  give(slab: Buffer): void {
    if (this.free.length < this.maxFree) this.free.push(slab);
  }

  get idleBytes(): number {
    return this.free.length * SLAB_BYTES;
  }
}

/** One batch's documents. `release` only once nothing reads them any more. */
export class Arena {
  private readonly slabs: Buffer[] = [];
  private current: Buffer | null = null;
  private used = 0;

  constructor(private readonly pool: SlabPool) {}

  /** A copy of `bytes` that stays valid until release(). */
  keep(bytes: Buffer): Buffer {
    const n = bytes.length;
    if (n > MAX_PACKED_LINE) return Buffer.from(bytes);
    if (!this.current || this.used + n > SLAB_BYTES) {
      this.current = this.pool.take();
      this.slabs.push(this.current);
      this.used = 0;
    }
    bytes.copy(this.current, this.used);
    const out = this.current.subarray(this.used, this.used + n);
    this.used += n;
    return out;
  }

  release(): void {
    for (const slab of this.slabs.splice(0)) this.pool.give(slab);
    this.current = null;
  }
}
