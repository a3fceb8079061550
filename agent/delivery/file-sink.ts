// `--output file`: the documents as rotated NDJSON files for a log pipeline the site already runs
// (Filebeat, Fluent Bit, Vector), one file per kind, named after the kind's indices
// (procflow-flows.ndjson, procflow-process.ndjson, procflow-dns.ndjson) so a shipper can route
// each to its own index. The lines are those the indexer would have been sent: checked with the
// contract's validator first, the invalid ones counted and logged, never written.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from '../../common/log.js';
import { CONTRACTS, DOC_KINDS, INDEX_PREFIX, type Validator } from '../../schema/index.js';
import { RotatingFile, type RotatingFileStats, type RotationLimits } from './rotating-file.js';
import { serialiserFor, writerFor, type DocSink, type HeldDocs } from './sink.js';
import { HeldJson, linesOf } from './held-lines.js';
import type { BatchKind } from './spool.js';

/** Bytes gathered before one write(2). */
const CHUNK_BYTES = 256 * 1024;
const DOCS_PER_TURN = 500;
const INVALID_LOG_INTERVAL_MS = 60_000;

export interface FileSinkOptions extends RotationLimits {
  output_path: string;
  log?: Logger;
}

export interface FileSinkStats {
  files: Record<BatchKind, RotatingFileStats>;
  invalidDocs: Record<BatchKind, number>;
  /** Documents lost because their write failed (disk full, directory gone). */
  writeFailedDocs: Record<BatchKind, number>;
}

const perKind = <T>(f: (k: BatchKind) => T) => Object.fromEntries(DOC_KINDS.map((k) => [k, f(k)])) as Record<BatchKind, T>;

export class FileSink implements DocSink {
  private readonly files: Record<BatchKind, RotatingFile>;
  private readonly validators = perKind((k): Validator => CONTRACTS[k].validate);
  /** One write at a time per file: rotation and the repair of a failed write assume it. */
  private readonly queues = perKind((): Promise<unknown> => Promise.resolve());
  readonly stats: FileSinkStats;
  private lastInvalidLogMs = -Infinity;

  constructor(private readonly o: FileSinkOptions) {
    this.files = perKind((k) => new RotatingFile(o.output_path, `${INDEX_PREFIX}-${k}`, o));
    this.stats = { files: perKind((k) => this.files[k].stats), invalidDocs: perKind(() => 0), writeFailedDocs: perKind(() => 0) };
  }

  /** Opens every file now, so a directory that cannot be written fails the start, not the first interval. */
  async prepare(): Promise<void> {
    for (const k of DOC_KINDS) await this.files[k].prepare();
  }

  /** The active file of each kind. */
  paths(): Record<BatchKind, string> {
    return perKind((k) => this.files[k].path);
  }

  write(kind: BatchKind, docs: Iterable<object>): Promise<number> {
    const validate = this.validators[kind];
    const json = serialiserFor(kind);
    return this.queued(kind, () => this.writeNow(kind, docs, (doc) => {
      const problem = validate(doc);
      if (!problem) return Buffer.from(`${json(doc)}\n`);
      this.invalid(kind, problem);
      return undefined;
    }));
  }

  /**
   * Documents checked and serialised as they come, waiting for the write as NDJSON bytes off the
   * JS heap (held-lines.ts); the invalid ones are counted and logged as they come.
   */
  hold(kind: BatchKind): HeldDocs {
    const validate = this.validators[kind];
    const lines = new HeldJson(writerFor(kind));
    return {
      add: (doc) => {
        const problem = validate(doc);
        if (problem) this.invalid(kind, problem);
        else lines.add(doc);
      },
      get count() {
        return lines.count;
      },
      write: async () => {
        const held = lines.take();
        const written = await this.queued(kind, () => this.writeNow(kind, linesOf(held.blocks), (line) => line));
        if (held.failed) throw held.failed;
        return written;
      },
    };
  }

  /** Runs `work` after the writes to the kind's file before it. */
  private queued(kind: BatchKind, work: () => Promise<number>): Promise<number> {
    const run = this.queues[kind].then(work);
    this.queues[kind] = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    await Promise.all(DOC_KINDS.map(async (k) => {
      await this.queues[k];
      await this.files[k].close();
    }));
  }

  /** Writes the lines `toLine` makes of `items` (undefined: an invalid document, left out). */
  private async writeNow<T>(kind: BatchKind, items: Iterable<T>, toLine: (item: T) => Buffer | undefined): Promise<number> {
    const file = this.files[kind];
    const parts: Buffer[] = [];
    let partBytes = 0;
    let partLines = 0;
    let written = 0;
    let seen = 0;
    let failed: Error | undefined;
    let lost = 0;
    const push = async () => {
      if (!partLines) return;
      const chunk = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partBytes);
      const lines = partLines;
      parts.length = 0;
      partBytes = 0;
      partLines = 0;
      try {
        await file.append(chunk, lines);
        written += lines;
      } catch (err) {
        failed ??= err as Error;
        lost += lines;
      }
    };
    for (const item of items) {
      if (++seen % DOCS_PER_TURN === 0) await yieldToLoop();
      // After a failed write the rest of this write is only counted, so the loss is known exactly.
      if (failed) {
        lost++;
        continue;
      }
      const line = toLine(item);
      if (!line) continue;
      if (file.needsRotation(partBytes, line.length)) {
        await push();
        if (!failed) await file.rotate().catch((err: Error) => { failed = err; });
        if (failed) {
          lost++;
          continue;
        }
      }
      parts.push(line);
      partBytes += line.length;
      partLines++;
      if (partBytes >= CHUNK_BYTES) await push();
    }
    await push();
    if (!failed) await file.sync().catch((err: Error) => { failed = err; });
    if (failed) {
      this.stats.writeFailedDocs[kind] += lost;
      this.o.log?.error({ kind, path: file.path, err: failed.message, lostDocs: lost, totalLost: this.stats.writeFailedDocs[kind] },
        'agent: writing documents to the output file failed, they are lost (procflow_agent_output_file_write_failed_docs_total); free space in --output-path or point it at a writable disk');
      throw failed;
    }
    return written;
  }

  private invalid(kind: BatchKind, problem: string): void {
    this.stats.invalidDocs[kind]++;
    const now = Date.now();
    if (!this.o.log || now - this.lastInvalidLogMs < INVALID_LOG_INTERVAL_MS) return;
    this.lastInvalidLogMs = now;
    this.o.log.error({ kind, problem, totalInvalid: this.stats.invalidDocs[kind] },
      'agent: a document failed validation against the contract and was not written (procflow_agent_documents_invalid_total); this is a bug, please report it with the problem above');
  }
}
