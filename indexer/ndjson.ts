// Turns an NDJSON body into documents ready for _bulk. Every line is parsed and validated
// against the contract before anything is written, so a bad line rejects the whole batch.
// The document's own bytes are passed through to Elasticsearch unchanged (no re-serialising):
// only its id and daily index are computed from the parsed value.
import { isUtf8 } from 'node:buffer';
import type { DocTypeContract } from '../schema/index.js';
import { HttpError } from './http-error.js';

export interface PreparedDoc {
  index: string;
  id: string;
  /** The document's JSON exactly as the agent sent it (one line, no newline). */
  source: Buffer;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

function badLine(code: string, line: number, reason: string): HttpError {
  return new HttpError(400, code, `line ${line}: ${reason}`, { line, reason });
}

export function prepareBatch(body: Buffer, contract: DocTypeContract<never>, maxDocs: number): PreparedDoc[] {
  const bodyIsUtf8 = isUtf8(body);
  const docs: PreparedDoc[] = [];
  let lineNo = 0;
  for (let start = 0; start < body.length; ) {
    let end = body.indexOf(NEWLINE, start);
    if (end === -1) end = body.length;
    lineNo++;
    let stop = end;
    if (stop > start && body[stop - 1] === CR) stop--;
    const line = body.subarray(start, stop);
    start = end + 1;
    if (line.length === 0) continue;
    if (!bodyIsUtf8 && !isUtf8(line)) throw badLine('invalid_utf8', lineNo, 'not valid UTF-8');

    const text = line.toString('utf8');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      if (text.trim() === '') continue;
      throw badLine('invalid_json', lineNo, `malformed JSON: ${(err as Error).message}`);
    }
    const problem = contract.validate(doc);
    if (problem) throw badLine('schema', lineNo, problem);
    if (docs.length >= maxDocs) {
      throw new HttpError(413, 'too_many_documents', `the batch has more than ${maxDocs} documents; send smaller batches`, { limit: maxDocs, line: lineNo });
    }
    let index: string;
    let id: string;
    try {
      index = contract.index(doc as never);
      id = contract.id(doc as never);
    } catch (err) {
      throw badLine('schema', lineNo, (err as Error).message);
    }
    docs.push({ index, id, source: line });
  }
  if (docs.length === 0) throw new HttpError(400, 'empty_body', 'the body holds no documents: send one JSON document per line');
  return docs;
}
