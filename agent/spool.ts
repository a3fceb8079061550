// The on-disk spool: every batch is written here before it is sent and deleted only after the
// indexer acknowledged it, so an indexer or Elasticsearch outage (or an agent restart) loses
// nothing. Bounded in bytes: when a new batch does not fit, the oldest batches not being sent
// right now are dropped, and every dropped batch and document is counted.
//
// Files: <dir>/<seq>-<kind>-<docs>.ndjson.gz, seq zero-padded so name order is age order;
// written to a .tmp name and renamed, so a crash never leaves a half batch under a real name.
// Batches the indexer rejected as invalid (HTTP 400) move to <dir>/dead-letter/ with a
// .reason.json next to them; that directory is bounded too.
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { rename, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../common/errors.js';

export type BatchKind = 'flows' | 'process';

export interface SpooledBatch {
  readonly seq: number;
  readonly kind: BatchKind;
  readonly docs: number;
  readonly bytes: number;
  readonly file: string;
}

export interface SpoolStats {
  bytes: number;
  batches: number;
  droppedBatches: number;
  droppedDocs: number;
  deadLetterBatches: number;
  deadLetterDocs: number;
  deadLetterDroppedBatches: number;
  /** Batches lost because writing them failed (disk full, directory gone, I/O error). */
  writeFailedBatches: number;
  writeFailedDocs: number;
  /** The last write error, for logs and /healthz. */
  lastWriteError: string;
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  deadLetterMaxBytes?: number;
}

const NAME = /^(\d{16})-(flows|process)-(\d+)\.ndjson\.gz$/;

function scan(dir: string): SpooledBatch[] {
  const out: SpooledBatch[] = [];
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (name.endsWith('.tmp')) {
      unlinkSync(file); // a write that a crash interrupted; its batch was never acknowledged to anyone
      continue;
    }
    const m = NAME.exec(name);
    if (!m) continue;
    out.push({ seq: Number(m[1]), kind: m[2] as BatchKind, docs: Number(m[3]), bytes: statSync(file).size, file });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

export class Spool {
  /** Pending batches in age order (Map keeps insertion order; seqs only grow). */
  private readonly pending = new Map<number, SpooledBatch>();
  private readonly inFlight = new Set<number>();
  private readonly deadLetter: SpooledBatch[];
  private readonly deadDir: string;
  private nextSeq: number;
  readonly stats: SpoolStats = { bytes: 0, batches: 0, droppedBatches: 0, droppedDocs: 0, deadLetterBatches: 0, deadLetterDocs: 0, deadLetterDroppedBatches: 0, writeFailedBatches: 0, writeFailedDocs: 0, lastWriteError: '' };

  constructor(private readonly opts: SpoolOptions) {
    this.deadDir = join(opts.dir, 'dead-letter');
    let found: SpooledBatch[];
    try {
      mkdirSync(this.deadDir, { recursive: true });
      found = scan(opts.dir);
    } catch (err) {
      throw new ConfigError(`spool: cannot use ${opts.dir} as the spool directory: ${(err as Error).message}`,
        'point --spool-dir (PROCFLOW_SPOOL_DIR) at a writable directory on a local disk');
    }
    for (const b of found) this.pending.set(b.seq, b);
    this.deadLetter = scan(this.deadDir);
    const maxSeq = Math.max(0, ...found.map((b) => b.seq), ...this.deadLetter.map((b) => b.seq));
    this.nextSeq = maxSeq + 1;
    this.recount();
  }

  /** Batches found on disk at open (left by a previous run). */
  get resumed(): number {
    return this.pending.size;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Writes a batch; makes room by dropping the oldest idle batches. False when it was dropped itself. */
  async put(kind: BatchKind, body: Buffer, docs: number): Promise<boolean> {
    if (body.length > this.opts.maxBytes) {
      this.countDrop(docs);
      return false;
    }
    for (const b of this.pending.values()) {
      if (this.stats.bytes + body.length <= this.opts.maxBytes) break;
      if (this.inFlight.has(b.seq)) continue;
      await this.remove(b);
      this.countDrop(b.docs);
    }
    if (this.stats.bytes + body.length > this.opts.maxBytes) {
      // Everything left is being sent right now: the new batch is the one that cannot be kept.
      this.countDrop(docs);
      return false;
    }
    const seq = this.nextSeq++;
    const file = join(this.opts.dir, `${String(seq).padStart(16, '0')}-${kind}-${docs}.ndjson.gz`);
    try {
      await writeFile(`${file}.tmp`, body);
      await rename(`${file}.tmp`, file);
    } catch (err) {
      // Disk full, directory removed, I/O error: this batch is lost; say so in the stats (the
      // caller logs), clean up the partial file, and let the next batch try again.
      await unlink(`${file}.tmp`).catch(() => {});
      this.stats.writeFailedBatches++;
      this.stats.writeFailedDocs += docs;
      this.stats.lastWriteError = (err as Error).message;
      return false;
    }
    this.pending.set(seq, { seq, kind, docs, bytes: body.length, file });
    this.recount();
    return true;
  }

  /** The oldest batch nobody is sending, marked in flight; undefined when there is none. */
  claim(): SpooledBatch | undefined {
    for (const b of this.pending.values()) {
      if (this.inFlight.has(b.seq)) continue;
      this.inFlight.add(b.seq);
      return b;
    }
    return undefined;
  }

  /** Gives a batch back after a failed attempt (it stays on disk for the next one). */
  release(b: SpooledBatch): void {
    this.inFlight.delete(b.seq);
  }

  read(b: SpooledBatch): Promise<Buffer> {
    return readFile(b.file);
  }

  /** Acknowledged (or superseded): delete it. */
  async remove(b: SpooledBatch): Promise<void> {
    this.inFlight.delete(b.seq);
    if (!this.pending.delete(b.seq)) return;
    await unlink(b.file).catch(() => {});
    this.recount();
  }

  /** A batch whose file is gone (deleted by hand, disk trouble): forget it, counted as dropped. */
  forget(b: SpooledBatch): void {
    this.inFlight.delete(b.seq);
    if (!this.pending.delete(b.seq)) return;
    this.countDrop(b.docs);
    this.recount();
  }

  /** A batch the indexer can never accept: keep it aside with the reason, counted. */
  async moveToDeadLetter(b: SpooledBatch, reason: { status: number; body: string }): Promise<void> {
    this.inFlight.delete(b.seq);
    if (!this.pending.delete(b.seq)) return;
    const target = join(this.deadDir, b.file.slice(b.file.lastIndexOf('/') + 1));
    await rename(b.file, target);
    await writeFile(`${target.replace(/\.ndjson\.gz$/, '')}.reason.json`, `${JSON.stringify({ at: new Date().toISOString(), ...reason })}\n`);
    this.deadLetter.push({ ...b, file: target });
    this.stats.deadLetterBatches++;
    this.stats.deadLetterDocs += b.docs;
    await this.trimDeadLetter();
    this.recount();
  }

  private async trimDeadLetter(): Promise<void> {
    const max = this.opts.deadLetterMaxBytes ?? this.opts.maxBytes;
    let total = this.deadLetter.reduce((n, b) => n + b.bytes, 0);
    while (total > max && this.deadLetter.length > 1) {
      const old = this.deadLetter.shift()!;
      total -= old.bytes;
      await unlink(old.file).catch(() => {});
      await unlink(`${old.file.replace(/\.ndjson\.gz$/, '')}.reason.json`).catch(() => {});
      this.stats.deadLetterDroppedBatches++;
    }
  }

  private countDrop(docs: number): void {
    this.stats.droppedBatches++;
    this.stats.droppedDocs += docs;
  }

  private recount(): void {
    let bytes = 0;
    for (const b of this.pending.values()) bytes += b.bytes;
    this.stats.bytes = bytes;
    this.stats.batches = this.pending.size;
  }
}
