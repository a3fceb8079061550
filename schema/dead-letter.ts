// Dead-letter documents: what Elasticsearch refused, with the reason, so nothing vanishes.
import type { DocOf, FieldTable } from './field-spec.js';

export const DEAD_LETTER_FIELDS = {
  '@timestamp': { type: 'date', required: true, description: 'when the indexer dead-lettered it' },
  target_index: { type: 'keyword', required: true, description: 'index the document was meant for' },
  document_id: { type: 'keyword', description: 'deterministic id it would have had' },
  status: { type: 'long', required: true, description: 'HTTP status Elasticsearch gave the item' },
  error_type: { type: 'keyword', required: true, description: 'Elasticsearch error type' },
  reason: { type: 'keyword', required: true, ignoreAbove: 8191, description: 'Elasticsearch error reason' },
  source: { type: 'keyword', storedOnly: true, description: 'the refused document as JSON (stored, not indexed)' },
} as const satisfies FieldTable;

export type DeadLetterDoc = DocOf<typeof DEAD_LETTER_FIELDS>;
