// Where finished documents go: NDJSON batches into the spool (then the shipper), or NDJSON
// lines on stdout (`--output ndjson`). Both take documents as an iterable (a flush's generator)
// and pull them one at a time, so memory is bounded by one batch, never by a whole interval.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { BatchKind, Spool } from './spool.js';

const gzip = promisify(gzipCb);

/** Documents serialised between two turns of the event loop (timers, HTTP, the shipper). */
const DOCS_PER_TURN = 500;

export interface DocSink {
  write(kind: BatchKind, docs: Iterable<object>): Promise<number>;
}

export interface BatchLimits {
  /** Uncompressed NDJSON bytes per batch (the indexer's request limit applies to the body). */
  maxBytes?: number;
  maxDocs?: number;
  /** gzip level of spooled batches (1 fastest .. 9 smallest). */
  gzipLevel?: number;
}

/**
 * A batch's NDJSON, written straight into bytes. Each line's string is garbage as soon as it is
 * copied, so it dies young instead of surviving into the old generation as a held array of
 * lines would (which is what made a large flush's heap balloon). The buffer is reused batch after
 * batch; it grows to the largest batch seen, at most the batch byte limit.
 */
class LineBuffer {
  private buf = Buffer.allocUnsafe(64 * 1024);
  length = 0;
  lines = 0;

  /** Appends `line` + "\n" when it fits in `limit` bytes (or the batch is empty); false otherwise. */
  tryAppend(line: string, limit: number): boolean {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only long or non-ASCII lines need counting.
    const room = limit - this.length;
    const worst = line.length * 3 + 1;
    const need = worst <= room ? worst : Buffer.byteLength(line) + 1;
    if (this.lines > 0 && need > room) return false;
    this.reserve(need);
    this.length += this.buf.write(line, this.length, 'utf8');
    this.buf[this.length++] = 0x0a;
    this.lines++;
    return true;
  }

  /** The batch so far (a view: valid until the next append or reset). */
  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
    this.lines = 0;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.length + n, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}

export class SpoolSink implements DocSink {
  private spare: LineBuffer | undefined;

  constructor(private readonly spool: Spool, private readonly limits: BatchLimits = {}, private readonly onBatch: () => void = () => {}) {}

  async write(kind: BatchKind, docs: Iterable<object>): Promise<number> {
    const maxBytes = this.limits.maxBytes ?? 4 * 1024 * 1024;
    const maxDocs = this.limits.maxDocs ?? 5000;
    const level = this.limits.gzipLevel ?? 6;
    // One buffer per concurrent write (there is normally one at a time, flows then process events).
    const batch = this.spare ?? new LineBuffer();
    this.spare = undefined;
    let total = 0;
    const flush = async () => {
      if (batch.lines === 0) return;
      const n = batch.lines;
      // gzip reads the view on the thread pool; nothing appends until it has finished.
      const body = await gzip(batch.view(), { level });
      batch.reset();
      await this.spool.put(kind, body, n);
      this.onBatch();
    };
    try {
      for (const doc of docs) {
        const line = JSON.stringify(doc);
        if (batch.lines >= maxDocs || !batch.tryAppend(line, maxBytes)) {
          await flush();
          batch.tryAppend(line, maxBytes);
        }
        if (++total % DOCS_PER_TURN === 0) await yieldToLoop();
      }
      await flush();
    } finally {
      batch.reset();
      this.spare = batch;
    }
    return total;
  }
}

export class StreamSink implements DocSink {
  constructor(private readonly out: Writable) {}

  async write(_kind: BatchKind, docs: Iterable<object>): Promise<number> {
    let n = 0;
    for (const doc of docs) {
      // Backpressure: a slow reader (jq, a pipe) slows the agent's output, not its memory.
      if (!this.out.write(`${JSON.stringify(doc)}\n`)) await once(this.out, 'drain');
      if (++n % DOCS_PER_TURN === 0) await yieldToLoop();
    }
    return n;
  }
}
