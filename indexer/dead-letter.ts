// Documents Elasticsearch refused for good (mapping or parse errors) go to the daily
// dead-letter index with the refusal's status, type and reason and the document itself, so
// nothing an agent sent disappears silently. The dead-letter id is derived from the target
// index and document id, so a retried batch does not dead-letter the same document twice.
import { createHash } from 'node:crypto';
import { dailyIndex, type DeadLetterDoc } from '../schema/index.js';
import { BulkEntries, type PreparedDoc, type SlabPool } from './arena.js';
import type { BulkWriter } from './bulk-writer.js';
import { HttpError } from './http-error.js';
import type { RefusedDoc } from './ndjson.js';

export function deadLetterDoc(r: RefusedDoc, now: Date): DeadLetterDoc {
  return {
    '@timestamp': now.toISOString(),
    target_index: r.doc.index,
    document_id: r.doc.id,
    status: r.status,
    error_type: r.errorType,
    reason: r.reason,
    source: r.doc.source.toString('utf8'),
  };
}

export function prepareDeadLetters(refused: RefusedDoc[], now = new Date()): PreparedDoc[] {
  const index = dailyIndex('deadletter', now.getTime());
  return refused.map((r) => ({
    index,
    id: createHash('sha256').update(r.doc.index).update('\u001f').update(r.doc.id).digest('base64url').slice(0, 27),
    source: Buffer.from(JSON.stringify(deadLetterDoc(r, now))),
  }));
}

/** Writes the refused documents to the dead-letter index; throws if even that is refused. */
export async function writeDeadLetters(writer: BulkWriter, refused: RefusedDoc[], pool: SlabPool): Promise<void> {
  if (refused.length === 0) return;
  const entries = new BulkEntries('index', pool);
  let res;
  try {
    for (const d of prepareDeadLetters(refused)) entries.add(d.index, d.id, d.source);
    res = await writer.write('deadletter', entries);
  } finally {
    entries.release();
  }
  if (res.refused.length > 0) {
    const first = res.refused[0]!;
    throw new HttpError(500, 'dead_letter_refused', `indexer: the dead-letter index refused ${res.refused.length} documents (${first.errorType}: ${first.reason}); the batch was not accepted`);
  }
}
