// Where finished documents go: NDJSON batches into the spool (then the shipper), or NDJSON
// lines on stdout (`--output ndjson`). Both take documents as an iterable so a large interval
// is serialised batch by batch, never all at once.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { BatchKind, Spool } from './spool.js';

const gzip = promisify(gzipCb);

export interface DocSink {
  write(kind: BatchKind, docs: Iterable<object>): Promise<number>;
}

export interface BatchLimits {
  /** Uncompressed NDJSON bytes per batch (the indexer's request limit applies to the body). */
  maxBytes?: number;
  maxDocs?: number;
}

export class SpoolSink implements DocSink {
  constructor(private readonly spool: Spool, private readonly limits: BatchLimits = {}, private readonly onBatch: () => void = () => {}) {}

  async write(kind: BatchKind, docs: Iterable<object>): Promise<number> {
    const maxBytes = this.limits.maxBytes ?? 4 * 1024 * 1024;
    const maxDocs = this.limits.maxDocs ?? 5000;
    let lines: string[] = [];
    let bytes = 0;
    let total = 0;
    const flush = async () => {
      if (!lines.length) return;
      const n = lines.length;
      const body = await gzip(`${lines.join('\n')}\n`);
      lines = [];
      bytes = 0;
      await this.spool.put(kind, body, n);
      this.onBatch();
    };
    for (const doc of docs) {
      const line = JSON.stringify(doc);
      if (lines.length && (bytes + line.length + 1 > maxBytes || lines.length >= maxDocs)) await flush();
      lines.push(line);
      bytes += line.length + 1;
      total++;
    }
    await flush();
    return total;
  }
}

export class StreamSink implements DocSink {
  constructor(private readonly out: Writable) {}

  async write(_kind: BatchKind, docs: Iterable<object>): Promise<number> {
    let n = 0;
    for (const doc of docs) {
      n++;
      // Backpressure: a slow reader (jq, a pipe) slows the agent's output, not its memory.
      if (!this.out.write(`${JSON.stringify(doc)}\n`)) await once(this.out, 'drain');
    }
    return n;
  }
}
