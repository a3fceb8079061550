// Turns NDJSON lines into documents ready for _bulk, as the body streams in. Every line is
// parsed and validated against the contract before anything is written, so a bad line rejects
// the whole batch (and stops reading at once). The document's own bytes are passed through to
// Elasticsearch unchanged (no re-serialising): only its id and daily index are computed from
// the parsed value.
import { isUtf8 } from 'node:buffer';
import type { DocTypeContract } from '../schema/index.js';
import type { Arena } from './arena.js';
import { HttpError } from './http-error.js';

export interface PreparedDoc {
  index: string;
  id: string;
  /** The document's JSON exactly as the agent sent it (one line, no newline). */
  source: Buffer;
}

function badLine(code: string, line: number, reason: string): HttpError {
  return new HttpError(400, code, `line ${line}: ${reason}`, { line, reason });
}

export class BatchBuilder {
  readonly docs: PreparedDoc[] = [];
  /** A batch's documents nearly all share one daily index: keep one copy of its name. */
  private lastIndex = '';

  constructor(
    private readonly contract: DocTypeContract<never>,
    private readonly maxDocs: number,
    private readonly arena: Arena,
  ) {}

  /** Validates one line; throws HttpError naming the line when it is not a valid document. */
  add(line: Buffer, lineNo: number): void {
    if (line.length === 0) return;
    if (!isUtf8(line)) throw badLine('invalid_utf8', lineNo, 'not valid UTF-8');
    const text = line.toString('utf8');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      if (text.trim() === '') return;
      throw badLine('invalid_json', lineNo, `malformed JSON: ${(err as Error).message}`);
    }
    const problem = this.contract.validate(doc);
    if (problem) throw badLine('schema', lineNo, problem);
    if (this.docs.length >= this.maxDocs) {
      throw new HttpError(413, 'too_many_documents', `the batch has more than ${this.maxDocs} documents; send smaller batches`, { limit: this.maxDocs, line: lineNo });
    }
    let index: string;
    let id: string;
    try {
      index = this.contract.index(doc as never);
      id = this.contract.id(doc as never);
    } catch (err) {
      throw badLine('schema', lineNo, (err as Error).message);
    }
    if (index === this.lastIndex) index = this.lastIndex;
    else this.lastIndex = index;
    this.docs.push({ index, id, source: this.arena.keep(line) });
  }

  /** The documents, once the body has ended; a body without any is an error. */
  finish(): PreparedDoc[] {
    if (this.docs.length === 0) throw new HttpError(400, 'empty_body', 'the body holds no documents: send one JSON document per line');
    return this.docs;
  }
}
