// Where finished documents go: NDJSON batches into the spool (then the shipper), or NDJSON
// lines on stdout (`--output ndjson`). Both take documents as an iterable (a flush's generator)
// and pull them one at a time, so memory is bounded by one batch, never by a whole interval.
//
// Into the spool, every document is first checked with the contract's validator (the one the
// indexer uses): the indexer answers 400 for a whole batch with one bad line in it, so one bad
// document would otherwise cost every good one beside it. Invalid documents go to the spool's
// dead letter with the reason, are counted (spool.stats.invalidDocs) and logged (rate-limited).
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from '../../common/log.js';
import { CONTRACTS, DOC_KINDS, type Validator } from '../../schema/index.js';
import type { BatchKind, Spool } from './spool.js';
import { docJson, type JsonBytes } from '../../common/doc-json.js';
import { HeldJson, linesOf, type DocWriter } from './held-lines.js';
import { createCompressor, type BatchEncoding } from '../../common/batch-encoding.js';

const VALIDATORS = Object.fromEntries(DOC_KINDS.map((k) => [k, CONTRACTS[k].validate])) as Record<BatchKind, Validator>;

/**
 * How documents of a kind become JSON: process events through docJson, which writes the process
 * records they share once; flow and DNS documents share nothing, and JSON.stringify is quicker
 * on them than a walk.
 */
export function serialiserFor(kind: BatchKind): (doc: object) => string {
  return kind === 'process' ? docJson : JSON.stringify;
}

/** A flow or DNS document, written whole by JSON.stringify (see serialiserFor). */
const writeStringified: DocWriter = (doc: object, out: JsonBytes) => out.text(JSON.stringify(doc));
/** A process event, walked (its shared records from their kept text). */
const writeWalked: DocWriter = (doc: object, out: JsonBytes) => out.document(doc);

/** serialiserFor, writing the document's JSON as bytes where the agent holds documents as lines (held-lines.ts). */
export function writerFor(kind: BatchKind): DocWriter {
  return kind === 'process' ? writeWalked : writeStringified;
}

/** At most one log line about invalid documents per this many ms (the metric counts them all). */
const INVALID_LOG_INTERVAL_MS = 60_000;

/** Uncompressed bytes handed to the compressor at a time. */
const CHUNK_BYTES = 256 * 1024;
/** First size of a chunk buffer (a chunk plus one line); it grows only for a single larger line. */
const CHUNK_BYTES_INITIAL = CHUNK_BYTES + 32 * 1024;

/** Documents serialised between two turns of the event loop (timers, HTTP, the shipper). */
const DOCS_PER_TURN = 500;

export interface DocSink {
  write(kind: BatchKind, docs: Iterable<object>): Promise<number>;
  /**
   * Where documents of `kind` can wait for the next write already serialised, off the JS heap;
   * a sink without it is given the documents themselves at the write.
   */
  hold?(kind: BatchKind): HeldDocs;
}

/** Documents given one at a time and written together, the same as write() would have written them. */
export interface HeldDocs {
  add(doc: object): void;
  /** Documents held now. */
  readonly count: number;
  /** Writes what is held (and holds nothing after); resolves to the documents written. */
  write(): Promise<number>;
}

/** The settings among these carry their names in agent/config.ts, and no defaults here. */
export interface BatchLimits {
  /** Uncompressed NDJSON bytes per batch (the indexer's request limit applies to the body). */
  batch_max_size: number;
  batch_max_docs: number;
  /** How spooled batches are compressed (and sent). */
  batch_compression: BatchEncoding;
  /** Where invalid documents are reported (rate-limited); unset: counted only. */
  log?: Logger;
}

/** Bytes of `line` + "\n" in UTF-8. */
function lineBytes(line: string): number {
  return Buffer.byteLength(line) + 1;
}

/**
 * NDJSON written straight into bytes. Each line's string is garbage as soon as it is copied, so
 * it dies young instead of surviving into the old generation as a held array of lines would
 * (which is what made a large flush's heap balloon). Reused chunk after chunk.
 */
class LineBuffer {
  private buf = Buffer.allocUnsafe(CHUNK_BYTES_INITIAL);
  length = 0;

  /** Appends `line` + "\n", `size` bytes in all. */
  append(line: string, size: number): void {
    this.ensure(size);
    this.length += this.buf.write(line, this.length, 'utf8');
    this.buf[this.length++] = 0x0a;
  }

  /** Appends `line`, which ends in its newline already. */
  appendBytes(line: Buffer): void {
    this.ensure(line.length);
    this.length += line.copy(this.buf, this.length);
  }

  /** Room for `size` more bytes. */
  private ensure(size: number): void {
    if (this.length + size <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.length + size, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  /** The bytes so far (a view: valid until the next append or reset). */
  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}

/**
 * One batch, compressed as it is written: NDJSON gathers in a small LineBuffer that is handed to
 * the compressor (on the thread pool) whenever it holds CHUNK_BYTES, so a batch never exists
 * uncompressed in full (up to --batch-max-size), only its compressed parts do.
 */
class CompressedBatch {
  private readonly z: ReturnType<typeof createCompressor>;
  private readonly parts: Buffer[] = [];
  /** Uncompressed bytes and documents in the batch so far. */
  bytes = 0;
  docs = 0;

  constructor(encoding: BatchEncoding) {
    this.z = createCompressor(encoding);
    this.z.on('data', (c: Buffer) => this.parts.push(c));
  }

  /** Compresses the chunk; it may be reused once this resolves (the compressor has consumed it). */
  write(chunk: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.z.write(chunk, (err) => (err ? reject(err) : resolve())));
  }

  async end(): Promise<Buffer> {
    const done = once(this.z, 'end');
    this.z.end();
    await done;
    return Buffer.concat(this.parts);
  }
}

/** Where SpoolSink's writes put lines: batched, compressed and spooled, or dead-lettered. */
interface BatchOutput {
  /**
   * A valid document's JSON (without its newline). A promise only when the line ended a batch or
   * filled a chunk: most lines are placed without one (a promise per line was a tenth of the
   * CPU of an exec's documents, in allocations and microtasks).
   */
  line(json: string): Promise<void> | undefined;
  /** A valid document's NDJSON line, newline included, as bytes; a promise as for line(). */
  lineBytes(line: Buffer): Promise<void> | undefined;
  /** A document that failed validation, with the reason. */
  invalid(json: string, reason: string): Promise<void>;
}

/** JSON of a document that failed validation, for the dead letter; never throws. */
function stringifyForDeadLetter(doc: unknown): string {
  try {
    return JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null';
  } catch (err) {
    return JSON.stringify({ unserialisable: (err as Error).message });
  }
}

/**
 * The invalid documents of one write, gathered into dead-letter batches (compressed NDJSON plus
 * one reason per line), cut by the same document and byte limits as spooled batches.
 */
class InvalidBatch {
  private readonly batch: CompressedBatch;
  readonly lines: { line: number; reason: string }[] = [];
  bytes = 0;

  constructor(encoding: BatchEncoding) {
    this.batch = new CompressedBatch(encoding);
  }

  async add(json: string, reason: string): Promise<void> {
    const buf = Buffer.from(`${json}\n`);
    await this.batch.write(buf);
    this.bytes += buf.length;
    this.lines.push({ line: this.lines.length + 1, reason });
  }

  end(): Promise<Buffer> {
    return this.batch.end();
  }
}

export class SpoolSink implements DocSink {
  private spare: LineBuffer | undefined;
  private lastInvalidLogMs = -Infinity;
  private invalidSinceLog = 0;

  constructor(private readonly spool: Spool, private readonly limits: BatchLimits, private readonly onBatch: (spooled: boolean) => void = () => {}) {}

  async write(kind: BatchKind, docs: Iterable<object>): Promise<number> {
    const validate = VALIDATORS[kind];
    const json = serialiserFor(kind);
    return this.batches(kind, async (out) => {
      let total = 0;
      for (const doc of docs) {
        const problem = validate(doc);
        if (problem) await out.invalid(stringifyForDeadLetter(doc), problem);
        else {
          const placing = out.line(json(doc));
          if (placing) await placing;
        }
        if (++total % DOCS_PER_TURN === 0) await yieldToLoop();
      }
      return total;
    });
  }

  /**
   * Documents checked and serialised as they come, waiting for the write as NDJSON bytes off the
   * JS heap (held-lines.ts); the write cuts those bytes into batches as write() would have.
   */
  hold(kind: BatchKind): HeldDocs {
    const validate = VALIDATORS[kind];
    const lines = new HeldJson(writerFor(kind));
    let invalid: { json: string; reason: string }[] = [];
    return {
      add: (doc) => {
        const problem = validate(doc);
        if (problem) invalid.push({ json: stringifyForDeadLetter(doc), reason: problem });
        else lines.add(doc);
      },
      get count() {
        return lines.count + invalid.length;
      },
      write: async () => {
        const held = lines.take();
        const bad = invalid;
        invalid = [];
        const total = await this.batches(kind, async (out) => {
          for (const b of bad) await out.invalid(b.json, b.reason);
          let n = 0;
          for (const line of linesOf(held.blocks)) {
            const placing = out.lineBytes(line);
            if (placing) await placing;
            if (++n % DOCS_PER_TURN === 0) await yieldToLoop();
          }
          return bad.length + n;
        });
        if (held.failed) throw held.failed;
        return total;
      },
    };
  }

  /**
   * Runs `fill` with a writer that cuts its lines into compressed batches by the batch limits and
   * spools them, and gathers invalid documents into dead-letter batches; resolves to what `fill` does.
   */
  private async batches(kind: BatchKind, fill: (out: BatchOutput) => Promise<number>): Promise<number> {
    const { batch_max_size: maxBytes, batch_max_docs: maxDocs, batch_compression: encoding } = this.limits;
    // One chunk buffer per concurrent write (normally one at a time: flows, then process events).
    const chunk = this.spare ?? new LineBuffer();
    this.spare = undefined;
    let batch: CompressedBatch | undefined;
    let invalid: InvalidBatch | undefined;
    // The previous batch's spool write (fsyncs) goes on while the next batch is built: at most
    // one at a time, so memory holds one extra compressed batch at most.
    let writing: Promise<void> | undefined;
    const pushChunk = async () => {
      if (chunk.length === 0) return;
      await batch!.write(chunk.view());
      chunk.reset();
    };
    const endBatch = async () => {
      if (!batch) return;
      await pushChunk();
      const docsIn = batch.docs;
      const body = await batch.end();
      batch = undefined;
      await writing;
      writing = this.spool.put(kind, body, docsIn).then((spooled) => this.onBatch(spooled));
    };
    const endInvalid = async () => {
      if (!invalid) return;
      const inv = invalid;
      invalid = undefined;
      await this.deadLetterInvalid(kind, inv);
    };
    /** Room for a line of `size` bytes in the batch (a new batch when the current one is full). */
    /** Whether a line of `size` bytes goes in the current batch (none yet counts as room). */
    const fits = (size: number) => !batch || (batch.docs < maxDocs && batch.bytes + size <= maxBytes);
    const count = (size: number) => {
      batch ??= new CompressedBatch(encoding);
      batch.bytes += size;
      batch.docs++;
    };
    /** A line that ends the batch before it or fills the chunk. */
    const placeSlowly = async (size: number, append: () => void) => {
      if (!fits(size)) await endBatch();
      count(size);
      append();
      if (chunk.length >= CHUNK_BYTES) await pushChunk();
    };
    const quick = (size: number) => fits(size) && chunk.length + size < CHUNK_BYTES;
    const out: BatchOutput = {
      line: (line) => {
        const size = lineBytes(line);
        if (!quick(size)) return placeSlowly(size, () => chunk.append(line, size));
        count(size);
        chunk.append(line, size);
        return undefined;
      },
      lineBytes: (line) => {
        if (!quick(line.length)) return placeSlowly(line.length, () => chunk.appendBytes(line));
        count(line.length);
        chunk.appendBytes(line);
        return undefined;
      },
      invalid: async (json, reason) => {
        if (invalid && (invalid.lines.length >= maxDocs || invalid.bytes >= maxBytes)) await endInvalid();
        invalid ??= new InvalidBatch(encoding);
        await invalid.add(json, reason);
      },
    };
    try {
      const total = await fill(out);
      await endBatch();
      await endInvalid();
      return total;
    } finally {
      await writing;
      chunk.reset();
      this.spare = chunk;
    }
  }

  private async deadLetterInvalid(kind: BatchKind, inv: InvalidBatch): Promise<void> {
    const body = await inv.end();
    const docs = inv.lines.length;
    const kept = await this.spool.deadLetterDocuments(kind, body, docs, {
      status: 0,
      body: `${docs} ${kind} document(s) failed validation against the document contract before spooling; they were never sent`,
      lines: inv.lines,
    }, { invalid: true });
    this.invalidSinceLog += docs;
    const now = Date.now();
    if (!this.limits.log || now - this.lastInvalidLogMs < INVALID_LOG_INTERVAL_MS) return;
    this.limits.log.error(
      { kind, invalidDocs: this.invalidSinceLog, totalInvalid: this.spool.stats.invalidDocs[kind], first: inv.lines[0]!.reason, deadLetter: kept },
      'agent: documents failed validation against the contract and were not shipped; kept in the spool\'s dead-letter folder (procflow_agent_documents_invalid_total); this is a bug, please report it with one of them',
    );
    this.lastInvalidLogMs = now;
    this.invalidSinceLog = 0;
  }
}

/** Bytes of NDJSON gathered before one write to the output stream. */
const OUT_CHUNK_BYTES = 64 * 1024;
/** Room of an output chunk: a chunk, and lines up to about 5,000 characters past it. */
const OUT_CHUNK_ROOM = OUT_CHUNK_BYTES + 16 * 1024;

export class StreamSink implements DocSink {
  constructor(private readonly out: Writable) {}

  async write(kind: BatchKind, docs: Iterable<object>): Promise<number> {
    const json = serialiserFor(kind);
    let n = 0;
    // Lines go out in chunks of about OUT_CHUNK_BYTES: stdout on a file or pipe is a write system
    // call per write(), which cost a quarter of the agent's time per exec when it was one per line.
    // Each line is written straight into the chunk's bytes: concatenated strings would be copied
    // twice more (flattened, then encoded). A chunk is new each time, since the stream may still
    // hold the last one.
    let chunk = Buffer.allocUnsafe(OUT_CHUNK_ROOM);
    let used = 0;
    const send = async () => {
      const full = chunk.subarray(0, used);
      chunk = Buffer.allocUnsafe(OUT_CHUNK_ROOM);
      used = 0;
      await this.send(full);
    };
    for (const doc of docs) {
      const line = json(doc);
      // UTF-8 takes at most 3 bytes per UTF-16 unit: with this much room the line certainly fits.
      const most = line.length * 3 + 1;
      if (used > 0 && used + most > OUT_CHUNK_ROOM) await send();
      if (most > OUT_CHUNK_ROOM) {
        // Longer than a chunk (a long argument list): it goes out alone.
        await this.send(`${line}\n`);
      } else {
        used += chunk.write(line, used, 'utf8');
        chunk[used++] = 0x0a;
        if (used >= OUT_CHUNK_BYTES) await send();
      }
      if (++n % DOCS_PER_TURN === 0) {
        if (used > 0) await send();
        await yieldToLoop();
      }
    }
    if (used > 0) await send();
    return n;
  }

  /** The lines serialised as documents come, written in blocks (held-lines.ts). */
  hold(kind: BatchKind): HeldDocs {
    const lines = new HeldJson(writerFor(kind));
    return {
      add: (doc) => lines.add(doc),
      get count() {
        return lines.count;
      },
      write: async () => {
        const held = lines.take();
        for (const block of held.blocks) await this.send(block);
        if (held.failed) throw held.failed;
        return held.lines;
      },
    };
  }

  private async send(chunk: string | Buffer): Promise<void> {
    // A reader that went away never drains: fail the write instead of waiting for ever.
    if (this.out.destroyed || this.out.writableEnded) throw new Error('the output stream is closed (its reader went away)');
    // Backpressure: a slow reader (jq, a pipe) slows the agent's output, not its memory.
    if (!this.out.write(chunk)) await this.drained();
  }

  /** 'drain', or an error when the stream closes or fails first. */
  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.out.off('drain', onDrain);
        this.out.off('close', onClose);
        this.out.off('error', done);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new Error('the output stream closed (its reader went away)'));
      this.out.once('drain', onDrain);
      this.out.once('close', onClose);
      this.out.once('error', done);
    });
  }
}
