// Builds _bulk request bodies: an action with the deterministic _id and daily index, then the
// document's own bytes. Documents are created, never overwritten: a retried batch meets 409 for
// what an earlier attempt wrote (the writer checks the stored copy is the same), and a different
// document with a taken id cannot replace the stored one. Dead letters are indexed (their ids
// are per refused document, a repeat is the same refusal). The body is streamed in small
// pieces, so a bulk request never holds a second full copy of its documents.
import { Readable } from 'node:stream';
import type { PreparedDoc } from './ndjson.js';

const PIECE_BYTES = 64 * 1024;

// Index names (dailyIndex) and ids (base64url digests) are plain ASCII without quotes or
// backslashes, so they go into the action line as they are.
export type BulkOp = 'create' | 'index';
const actionLine = (op: BulkOp, doc: PreparedDoc): string => `{"${op}":{"_index":"${doc.index}","_id":"${doc.id}"}}\n`;

/** Bytes an action line and the document's newline add around the index name and id (at most). */
const OVERHEAD = actionLine('create', { index: '', id: '', source: Buffer.alloc(0) }).length + 1;

/** Encoded size of a document in a bulk body (action line included). */
export function bulkSize(doc: PreparedDoc): number {
  return doc.source.length + doc.index.length + doc.id.length + OVERHEAD;
}

/** Splits documents into groups whose bulk bodies are about `flushBytes` each. */
export function splitByBytes(docs: PreparedDoc[], flushBytes: number): PreparedDoc[][] {
  const groups: PreparedDoc[][] = [];
  let group: PreparedDoc[] = [];
  let size = 0;
  for (const doc of docs) {
    const s = bulkSize(doc);
    if (group.length > 0 && size + s > flushBytes) {
      groups.push(group);
      group = [];
      size = 0;
    }
    group.push(doc);
    size += s;
  }
  if (group.length) groups.push(group);
  return groups;
}

/** The next piece of the body, from docs[from] on: about PIECE_BYTES, at least one document. */
function piece(op: BulkOp, docs: PreparedDoc[], from: number): { buf: Buffer; next: number } {
  let to = from;
  let size = 0;
  while (to < docs.length && (to === from || size + bulkSize(docs[to]!) <= PIECE_BYTES)) size += bulkSize(docs[to++]!);
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = from; i < to; i++) {
    const doc = docs[i]!;
    at += buf.write(actionLine(op, doc), at, 'latin1');
    at += doc.source.copy(buf, at);
    buf[at++] = 0x0a;
  }
  if (at > size) throw new Error(`bulk body: piece is ${at} bytes, more than the ${size} counted`);
  return { buf: buf.subarray(0, at), next: to };
}

/** The bulk body as a stream of pieces, built as the connection asks for them. */
export function bulkBody(op: BulkOp, docs: PreparedDoc[]): Readable {
  let next = 0;
  return new Readable({
    read() {
      if (next >= docs.length) return void this.push(null);
      const p = piece(op, docs, next);
      next = p.next;
      this.push(p.buf);
    },
  });
}
