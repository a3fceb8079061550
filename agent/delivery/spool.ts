// The on-disk spool: every batch is written here before it is sent and deleted only after the
// indexer acknowledged it, so an indexer or Elasticsearch outage (or an agent restart) loses
// nothing. Bounded in bytes: when a new batch does not fit, the oldest batches not being sent
// right now are dropped, and every dropped batch and document is counted.
//
// Files: <dir>/<seq>-<kind>-<docs>.ndjson.zst (or .ndjson.gz: the suffix names the encoding the
// batch was written in, common/batch-encoding.ts), seq zero-padded so name order is age order.
// Written durably: to a .tmp name, fsynced, renamed, then the directory fsynced, so neither a
// crash nor a power cut leaves a half batch (or a name without its data) under a real name.
// What can never be sent goes to <dir>/dead-letter/ with a .reason.json next to it: documents
// that failed validation before spooling, lines the indexer rejected (HTTP 400), a single
// document too large for it (413), batches it kept failing with a server error (5xx other than
// 503, after --max-server-error-retries), and spool files that cannot be read or decompressed
// (corrupt). That directory is bounded too.
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { open, rename, readFile, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '../../common/errors.js';
import { OrderedMap } from '../../common/ordered-map.js';
import { DOC_KINDS, type DocKind } from '../../schema/index.js';
import { FILE_SUFFIX, encodingOf } from '../../common/batch-encoding.js';

/** A batch holds documents of one kind. */
export type BatchKind = DocKind;

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
  /** Documents that failed the contract's validation before spooling (dead-lettered), by kind. */
  invalidDocs: Record<BatchKind, number>;
  /** Spooled batches that could not be read or decompressed (moved to the dead letter). */
  corruptBatches: number;
  corruptDocs: number;
}

/** Why something is in the dead letter, written next to it as <name>.reason.json. */
export interface DeadLetterReason {
  /** The indexer's HTTP status; 0 when the agent decided on its own (validation, corrupt file). */
  status: number;
  /** The indexer's answer, or the agent's sentence. */
  body: string;
  /** Per document: its line in the dead-letter file (1-based) and why it was refused. */
  lines?: { line: number; reason: string }[];
}

/** The settings among these carry their names in agent/config.ts, and no defaults here. */
export interface SpoolOptions {
  spool_dir: string;
  /** Bytes of pending batches at most. */
  spool_max_size: number;
  /** Bytes of the dead letter at most. */
  dead_letter_max_size: number;
}

const SUFFIXES = `(?:${Object.values(FILE_SUFFIX).map((x) => x.replaceAll('.', '\\.')).join('|')})`;
const NAME = new RegExp(`^(\\d{16})-(${DOC_KINDS.join('|')})-(\\d+)${SUFFIXES}$`);

const reasonFile = (batchFile: string): string => `${batchFile.replace(new RegExp(`${SUFFIXES}$`), '')}.reason.json`;

/** fsync of a directory, so a rename or unlink in it survives a power cut. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some filesystems cannot fsync a directory; there is nothing more to do there.
    if (!['EINVAL', 'ENOTSUP', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await fh.close();
  }
}

/**
 * Writes `file` so that after a crash it either holds all of `data` or does not exist: data to
 * <file>.tmp, fdatasync, rename, fsync of the directory. A failure removes the temporary file.
 */
async function writeDurable(file: string, data: Buffer | string): Promise<void> {
  const tmp = `${file}.tmp`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fsyncDir(dirname(file));
}

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
  /**
   * Pending batches in age order (seqs only grow). An OrderedMap: draining a backlog takes the
   * oldest again and again, and a Map would walk every batch removed before it each time.
   */
  private readonly pending = new OrderedMap<number, SpooledBatch>();
  private readonly inFlight = new Set<number>();
  private readonly deadLetter: SpooledBatch[];
  private readonly deadDir: string;
  private nextSeq: number;
  readonly stats: SpoolStats = {
    bytes: 0, batches: 0, droppedBatches: 0, droppedDocs: 0, deadLetterBatches: 0, deadLetterDocs: 0, deadLetterDroppedBatches: 0,
    writeFailedBatches: 0, writeFailedDocs: 0, lastWriteError: '', invalidDocs: Object.fromEntries(DOC_KINDS.map((k) => [k, 0])) as Record<BatchKind, number>, corruptBatches: 0, corruptDocs: 0,
  };

  constructor(private readonly opts: SpoolOptions) {
    this.deadDir = join(opts.spool_dir, 'dead-letter');
    let found: SpooledBatch[];
    try {
      mkdirSync(this.deadDir, { recursive: true });
      found = scan(opts.spool_dir);
    } catch (err) {
      throw new ConfigError(`spool: cannot use ${opts.spool_dir} as the spool directory: ${(err as Error).message}`,
        'point --spool-dir (PROCFLOW_SPOOL_DIR) at a writable directory on a local disk');
    }
    for (const b of found) this.track(b);
    this.deadLetter = scan(this.deadDir);
    // A loop, not Math.max(...seqs): a spool of many batches would overflow the call's arguments.
    let maxSeq = 0;
    for (const b of found) maxSeq = Math.max(maxSeq, b.seq);
    for (const b of this.deadLetter) maxSeq = Math.max(maxSeq, b.seq);
    this.nextSeq = maxSeq + 1;
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
    if (body.length > this.opts.spool_max_size) {
      this.countDrop(docs);
      return false;
    }
    for (const b of this.pending.values()) {
      if (this.stats.bytes + body.length <= this.opts.spool_max_size) break;
      if (this.inFlight.has(b.seq)) continue;
      await this.remove(b);
      this.countDrop(b.docs);
    }
    if (this.stats.bytes + body.length > this.opts.spool_max_size) {
      // Everything left is being sent right now: the new batch is the one that cannot be kept.
      this.countDrop(docs);
      return false;
    }
    const seq = this.nextSeq++;
    const file = join(this.opts.spool_dir, this.fileName(seq, kind, docs, body));
    try {
      await writeDurable(file, body);
    } catch (err) {
      // Disk full, directory removed, I/O error: this batch is lost; say so in the stats (the
      // caller logs) and let the next batch try again.
      this.countWriteFailure(docs, err);
      return false;
    }
    this.track({ seq, kind, docs, bytes: body.length, file });
    return true;
  }

  /** The oldest batch nobody is sending (and `eligible` takes), marked in flight; undefined when there is none. */
  claim(eligible: (b: SpooledBatch) => boolean = () => true): SpooledBatch | undefined {
    for (const b of this.pending.values()) {
      if (this.inFlight.has(b.seq) || !eligible(b)) continue;
      this.inFlight.add(b.seq);
      return b;
    }
    return undefined;
  }

  /** Whether batch `seq` is still spooled (not sent, dropped or moved aside). */
  has(seq: number): boolean {
    return this.pending.has(seq);
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
    if (!this.untrack(b.seq)) return;
    await unlink(b.file).catch(() => {});
  }

  /** A batch whose file is gone (deleted by hand, disk trouble): forget it, counted as dropped. */
  forget(b: SpooledBatch): void {
    this.inFlight.delete(b.seq);
    if (!this.untrack(b.seq)) return;
    this.countDrop(b.docs);
  }

  /**
   * A batch the indexer can never accept: keep it aside with the reason, counted. When the dead
   * letter cannot take it (disk full, directory unwritable) it is deleted and counted as
   * dropped instead (false): it could never be sent, and must not block the batches after it.
   */
  async moveToDeadLetter(b: SpooledBatch, reason: DeadLetterReason): Promise<boolean> {
    this.inFlight.delete(b.seq);
    if (!this.untrack(b.seq)) return false;
    const target = join(this.deadDir, basename(b.file));
    try {
      // The reason first: a crash in between leaves a reason without its batch, never a batch
      // in the dead letter without a reason.
      await writeDurable(reasonFile(target), this.reasonText(reason));
      await rename(b.file, target);
    } catch (err) {
      await unlink(reasonFile(target)).catch(() => {});
      await unlink(b.file).catch(() => {});
      this.countDrop(b.docs);
      this.stats.lastWriteError = (err as Error).message;
      return false;
    }
    await fsyncDir(this.deadDir).catch(() => {});
    await this.keepDeadLetter({ ...b, file: target });
    return true;
  }

  /**
   * Documents that were never spooled (they failed validation, or the indexer named them as the
   * bad lines of a batch) go straight to the dead letter as a batch of their own. False when
   * writing failed (counted with the spool's write failures: those documents are lost).
   */
  async deadLetterDocuments(kind: BatchKind, body: Buffer, docs: number, reason: DeadLetterReason, opts: { invalid?: boolean } = {}): Promise<boolean> {
    if (opts.invalid) this.stats.invalidDocs[kind] += docs;
    const seq = this.nextSeq++;
    const file = join(this.deadDir, this.fileName(seq, kind, docs, body));
    try {
      await writeDurable(reasonFile(file), this.reasonText(reason));
      await writeDurable(file, body);
    } catch (err) {
      await unlink(reasonFile(file)).catch(() => {});
      this.countWriteFailure(docs, err);
      return false;
    }
    await this.keepDeadLetter({ seq, kind, docs, bytes: body.length, file });
    return true;
  }

  /**
   * A spooled batch whose file cannot be read or decompressed: retrying cannot fix it, and as
   * the oldest batch it would hold up the ones after it, so it moves to the dead letter with
   * the error (or, when even that fails, is deleted). Counted either way; never throws.
   */
  async quarantine(b: SpooledBatch, error: string): Promise<boolean> {
    this.stats.corruptBatches++;
    this.stats.corruptDocs += b.docs;
    return this.moveToDeadLetter(b, { status: 0, body: `corrupt spool file: ${error}` });
  }

  /** A batch's name; its suffix says how `body` is compressed (anything unknown is named gzip, as before zstd). */
  private fileName(seq: number, kind: BatchKind, docs: number, body: Buffer): string {
    return `${String(seq).padStart(16, '0')}-${kind}-${docs}${FILE_SUFFIX[encodingOf(body) ?? 'gzip']}`;
  }

  private reasonText(reason: DeadLetterReason): string {
    return `${JSON.stringify({ at: new Date().toISOString(), ...reason })}\n`;
  }

  private countWriteFailure(docs: number, err: unknown): void {
    this.stats.writeFailedBatches++;
    this.stats.writeFailedDocs += docs;
    this.stats.lastWriteError = (err as Error).message;
  }

  private async keepDeadLetter(b: SpooledBatch): Promise<void> {
    this.deadLetter.push(b);
    this.stats.deadLetterBatches++;
    this.stats.deadLetterDocs += b.docs;
    await this.trimDeadLetter();
  }

  private async trimDeadLetter(): Promise<void> {
    const max = this.opts.dead_letter_max_size;
    let total = this.deadLetter.reduce((n, b) => n + b.bytes, 0);
    while (total > max && this.deadLetter.length > 1) {
      const old = this.deadLetter.shift()!;
      total -= old.bytes;
      await unlink(old.file).catch(() => {});
      await unlink(reasonFile(old.file)).catch(() => {});
      this.stats.deadLetterDroppedBatches++;
    }
  }

  private countDrop(docs: number): void {
    this.stats.droppedBatches++;
    this.stats.droppedDocs += docs;
  }

  /** A batch is pending; the stats count it (kept as batches come and go, not summed again each time). */
  private track(b: SpooledBatch): void {
    this.pending.set(b.seq, b);
    this.stats.bytes += b.bytes;
    this.stats.batches = this.pending.size;
  }

  /** Batch `seq` is pending no more; false when it was not. */
  private untrack(seq: number): boolean {
    const b = this.pending.get(seq);
    if (!b) return false;
    this.pending.delete(seq);
    this.stats.bytes -= b.bytes;
    this.stats.batches = this.pending.size;
    return true;
  }
}
