// Deterministic document ids: the same document always gets the same id, so a batch that is
// retried (by the agent's spool or the indexer's backoff) overwrites rather than duplicates.
import { createHash } from 'node:crypto';
import { DNS_LOG_ID_FIELDS, type DnsLog } from './dns-log.js';
import { FLOW_LOG_ID_FIELDS, type FlowLog } from './flow-log.js';
import type { ProcessEventDoc } from './process-event.js';

/**
 * The hashed bytes are the JSON array of the parts: strings are quoted and escaped, so no value
 * can end one field and start the next (a separator join could be forged by a value holding
 * the separator); absent parts are null, which no string equals; lone surrogates are escaped
 * rather than replaced by U+FFFD on the way to UTF-8. Changing this encoding changes every id.
 */
function digest(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 27);
}

function idOf<D>(doc: D, fields: readonly (keyof D)[]): string {
  const parts: unknown[] = new Array(fields.length);
  for (let i = 0; i < fields.length; i++) parts[i] = doc[fields[i]!] ?? null;
  return digest(parts);
}

export function flowLogId(doc: FlowLog): string {
  return idOf(doc, FLOW_LOG_ID_FIELDS);
}

/** The rrsets and servers are part of it: nested values are JSON too, so still unforgeable. */
export function dnsLogId(doc: DnsLog): string {
  return idOf(doc, DNS_LOG_ID_FIELDS);
}

export function processEventId(doc: ProcessEventDoc): string {
  const body = doc.event_type === 'process_exit' ? doc.process_exit : doc.process_exec;
  return digest([doc.event_type, doc.node_name, body?.process.exec_id ?? null, doc.time]);
}
