// Turns NDJSON lines into _bulk entries (arena.ts), as the body streams in. Every line is
// checked (its size already while it arrived) and validated against the contract before
// anything is written, so a bad line rejects the whole batch (and stops reading at once). The
// document's own bytes are passed through to Elasticsearch unchanged (no re-serialising).
//
// A line is first read by the contract's scanner, which checks it (its UTF-8 too) without
// building it and takes out only what the id and daily index are made of. A line the scanner declines (malformed,
// invalid, or merely unusual: escapes in keys, duplicate keys, numbers written oddly) takes the
// full path: nesting depth before parsing, JSON.parse, the validator, which says what is wrong
// or accepts it; both paths give a document the same id and index.
//
// Two outcomes are not errors of the batch but of one document, which goes to the dead letters
// with the reason: a time outside the window the cluster keeps (older than the retention, or
// ahead of the clock by more than the allowed skew: no index is ever made for such a day), and
// a second, different document with an id already taken in this batch. An identical repeat
// within the batch is dropped and counted.
import { isUtf8 } from 'node:buffer';
import { nestingDepth, parseTime, type DocTypeContract } from '../schema/index.js';
import type { BulkEntries, PreparedDoc } from './arena.js';
import { HttpError } from './http-error.js';
import { nestsDeeperThan } from './nesting.js';

/** A document refused for good, with the reason: by Elasticsearch, or before writing (out of the time window, a conflicting id). */
export interface RefusedDoc {
  doc: PreparedDoc;
  status: number;
  errorType: string;
  reason: string;
}

export interface BatchLimits {
  maxDocs: number;
  maxDepth: number;
  /** Oldest document time accepted (ms since the epoch). */
  notBeforeMs: number;
  /** Newest document time accepted (ms since the epoch). */
  notAfterMs: number;
}

function badLine(code: string, line: number, reason: string): HttpError {
  return new HttpError(400, code, `line ${line}: ${reason}`, { line, reason });
}

export class BatchBuilder {
  /** Documents refused before writing (out of the time window, conflicting ids). */
  readonly refused: RefusedDoc[] = [];
  /** Identical repeats of a document earlier in the batch, dropped. */
  duplicates = 0;

  /** The scanner cannot see deeper nesting than the contract's own; a lower limit needs the full path. */
  private readonly scan: boolean;

  constructor(
    private readonly contract: DocTypeContract<never>,
    private readonly limits: BatchLimits,
    /** Where the documents to write go. */
    private readonly entries: BulkEntries,
  ) {
    this.scan = nestingDepth(contract.fields) <= limits.maxDepth;
  }

  /** Validates one line; throws HttpError naming the line when it is not a valid document. */
  add(line: Buffer, lineNo: number): void {
    if (line.length === 0) return;
    // The scanner's cut-down document and id, else the parsed document (its id made below). A
    // line the scanner accepts is UTF-8 (it checks as it reads), so only the others are checked here.
    const scanned = this.scan ? this.contract.scan(line) : null;
    if (scanned === null && !isUtf8(line)) throw badLine('invalid_utf8', lineNo, 'not valid UTF-8');
    const doc = scanned ? scanned.keys : this.parse(line, lineNo);
    if (doc === undefined) return;
    if (this.entries.count + this.refused.length + this.duplicates >= this.limits.maxDocs) {
      throw new HttpError(413, 'too_many_documents', `the batch has more than ${this.limits.maxDocs} documents; send smaller batches`, { limit: this.limits.maxDocs, line: lineNo });
    }
    let index: string;
    let id: string;
    try {
      index = this.contract.index(doc as never);
      id = scanned ? scanned.id : this.contract.id(doc as never);
    } catch (err) {
      throw badLine('schema', lineNo, (err as Error).message);
    }
    const time = parseTime(this.contract.timestamp(doc as never));
    if (time < this.limits.notBeforeMs || time > this.limits.notAfterMs) {
      const why = time < this.limits.notBeforeMs ? 'older than the retention (--retention-days)' : 'ahead of the indexer\'s clock by more than --max-future-skew';
      this.refused.push({ doc: { index, id, source: Buffer.from(line) }, status: 422, errorType: 'timestamp_out_of_range', reason: `@timestamp ${this.contract.timestamp(doc as never)} is ${why}; no index is made for that day` });
      return;
    }
    const seen = this.entries.find(id);
    if (seen >= 0) {
      if (this.entries.source(seen).equals(line)) {
        this.duplicates++;
        return;
      }
      this.refused.push({ doc: { index, id, source: Buffer.from(line) }, status: 409, errorType: 'conflicting_document', reason: `another document of this batch has the same id ${id} and different content; the first was kept` });
      return;
    }
    this.entries.add(index, id, line);
  }

  /**
   * The full path, for a line the scanner declined: the whole document, or undefined for a line
   * of only whitespace; throws HttpError with the reason when it is not a valid document.
   */
  private parse(line: Buffer, lineNo: number): unknown {
    if (nestsDeeperThan(line, this.limits.maxDepth)) {
      throw badLine('too_deep', lineNo, `objects and arrays nest deeper than ${this.limits.maxDepth} levels (--max-nesting-depth)`);
    }
    const text = line.toString('utf8');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      if (text.trim() === '') return undefined;
      throw badLine('invalid_json', lineNo, `malformed JSON: ${(err as Error).message}`);
    }
    const problem = this.contract.validate(doc);
    if (problem) throw badLine('schema', lineNo, problem);
    return doc;
  }

  /** Once the body has ended: a body without any document is an error. */
  finish(): void {
    if (this.entries.count + this.refused.length + this.duplicates === 0) throw new HttpError(400, 'empty_body', 'the body holds no documents: send one JSON document per line');
  }
}
