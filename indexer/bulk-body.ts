// Builds _bulk request bodies: an `index` action with the deterministic _id and daily index,
// then the document's own bytes. Indexing (not creating) with a fixed id makes a retried batch
// overwrite what an earlier attempt wrote instead of duplicating it.
import type { PreparedDoc } from './ndjson.js';

const actionLine = (doc: PreparedDoc): string => `{"index":{"_index":${JSON.stringify(doc.index)},"_id":${JSON.stringify(doc.id)}}}\n`;

/** Encoded size of a document in a bulk body (action line included). */
export function bulkSize(doc: PreparedDoc): number {
  // Index names and ids are ASCII; the constant covers the action line's JSON around them.
  return doc.source.length + doc.index.length + doc.id.length + 32;
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

/** One buffer, written in place: no intermediate strings per document. */
export function encodeBulk(docs: PreparedDoc[]): Buffer {
  const actions = docs.map(actionLine);
  let total = 0;
  for (let i = 0; i < docs.length; i++) total += actions[i]!.length + docs[i]!.source.length + 1;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < docs.length; i++) {
    at += out.write(actions[i]!, at, 'latin1');
    at += docs[i]!.source.copy(out, at);
    out[at++] = 0x0a;
  }
  return out;
}
