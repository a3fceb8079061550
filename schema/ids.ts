// Deterministic document ids: the same document always gets the same id, so a batch that is
// retried (by the agent's spool or the indexer's backoff) overwrites rather than duplicates.
import { createHash } from 'node:crypto';
import { FLOW_LOG_ID_FIELDS, type FlowLog } from './flow-log.js';
import type { ProcessEventDoc } from './process-event.js';

function digest(parts: readonly unknown[]): string {
  // One update of the joined parts hashes the same bytes as one update per part, faster.
  let joined = '';
  for (const p of parts) joined += `${p === undefined || p === null ? '\u0000' : String(p)}\u001f`;
  return createHash('sha256').update(joined).digest('base64url').slice(0, 27);
}

export function flowLogId(doc: FlowLog): string {
  return digest(FLOW_LOG_ID_FIELDS.map((f) => doc[f]));
}

export function processEventId(doc: ProcessEventDoc): string {
  const body = doc.event_type === 'process_exit' ? doc.process_exit : doc.process_exec;
  return digest([doc.event_type, doc.node_name, body?.process.exec_id, doc.time]);
}
