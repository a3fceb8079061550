// Deterministic document ids: the same document always gets the same id, so a batch that is
// retried (by the agent's spool or the indexer's backoff) overwrites rather than duplicates.
//
// An id is made from a recipe: the values at some paths of the document, in order. The indexer
// makes the same id from a document's text without parsing it (schema/scan.ts), so the recipe
// is data both read, and the encoding below is the one both hash.
import { hash } from 'node:crypto';
import { DNS_LOG_ID_FIELDS, type DnsLog } from './dns-log.js';
import { FLOW_LOG_ID_FIELDS, type FlowLog } from './flow-log.js';
import type { ProcessEventDoc } from './process-event.js';

/**
 * The parts of an id, in order: each the value at a dotted path, or for a list of paths the
 * first of them that holds a value. A part without a value (absent or null) is null.
 */
export type IdRecipe = readonly (string | readonly string[])[];

export const FLOW_LOG_ID: IdRecipe = FLOW_LOG_ID_FIELDS;

/** The rrsets and servers are part of it: nested values are JSON too, so still unforgeable. */
export const DNS_LOG_ID: IdRecipe = DNS_LOG_ID_FIELDS;

/** Type, node, the exec_id of the event's body (a valid event has the one its type names) and time. */
export const PROCESS_EVENT_ID: IdRecipe = ['event_type', 'node_name', ['process_exec.process.exec_id', 'process_exit.process.exec_id'], 'time'];

/**
 * The id of the parts, given as the JSON text of their array (a string, or its UTF-8 bytes):
 * strings are quoted and escaped, so no value can end one field and start the next (a separator
 * join could be forged by a value holding the separator); absent parts are null, which no
 * string equals; lone surrogates are escaped rather than replaced by U+FFFD on the way to
 * UTF-8. Changing this encoding changes every id.
 */
export function idOfPartsJson(json: string | Uint8Array): string {
  return hash('sha256', json, 'base64url').slice(0, 27);
}

function valueAt(doc: unknown, path: string): unknown {
  let v = doc;
  for (const name of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[name];
  }
  return v;
}

/** The id of a parsed document by the recipe. */
export function idOf(doc: unknown, recipe: IdRecipe): string {
  const parts: unknown[] = new Array(recipe.length);
  for (let i = 0; i < recipe.length; i++) {
    const part = recipe[i]!;
    let v: unknown;
    for (const path of typeof part === 'string' ? [part] : part) if ((v = valueAt(doc, path) ?? undefined) !== undefined) break;
    parts[i] = v ?? null;
  }
  return idOfPartsJson(JSON.stringify(parts));
}

export const flowLogId = (doc: FlowLog): string => idOf(doc, FLOW_LOG_ID);
export const dnsLogId = (doc: DnsLog): string => idOf(doc, DNS_LOG_ID);
export const processEventId = (doc: ProcessEventDoc): string => idOf(doc, PROCESS_EVENT_ID);
