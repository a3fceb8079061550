// Deterministic document ids: the same document always gets the same id, so a batch that is
// retried (by the agent's spool or the indexer's backoff) overwrites rather than duplicates.
//
// An id is made from a recipe: the values at some paths of the document, in order. The indexer
// makes the same id from a document's text without parsing it (schema/scan.ts), so the recipe
// is data both read, and the encoding below is the one both hash.
//
// An id begins with where and when: 2 bytes of the hash of the recipe's first part (the node)
// and the second of its second part (a time), then 12 bytes of the hash of all parts. Documents
// of one node and second so share a 6-byte prefix, which Elasticsearch's terms dictionary and
// the compressed stored fields of an index sorted by node and time fold away (the id took 52.6 B
// per flow log when it was 20 bytes of hash alone). 96 bits of hash within one node's second
// keep a collision out of reach; 18 bytes are 24 base64url characters, which Elasticsearch
// stores as the bytes they encode.
import { hash } from 'node:crypto';
import { parseTime } from './time.js';
import { DNS_LOG_ID_FIELDS, type DnsLog } from './dns-log.js';
import { FLOW_LOG_ID_FIELDS, type FlowLog } from './flow-log.js';
import type { ProcessEventDoc } from './process-event.js';

/**
 * The parts of an id, in order: each the value at a dotted path, or for a list of paths the
 * first of them that holds a value. A part without a value (absent or null) is null. The first
 * part names the node, the second is a time (see above).
 */
export type IdRecipe = readonly (string | readonly string[])[];

export const FLOW_LOG_ID: IdRecipe = FLOW_LOG_ID_FIELDS;

/** The rrsets and servers are part of it: nested values are JSON too, so still unforgeable. */
export const DNS_LOG_ID: IdRecipe = DNS_LOG_ID_FIELDS;

/** Node, time, type and the exec_id of the event's body (a valid event has the one its type names). */
export const PROCESS_EVENT_ID: IdRecipe = ['node_name', 'time', 'event_type', ['process_exec.process.exec_id', 'process_exit.process.exec_id']];

// Batches come from one node, mostly within one second: the prefix is remade only when either changes.
const PREFIX = Buffer.alloc(6);
const nodeHashes = new Map<string, number>();
const NODE_HASHES_KEPT = 4096;
let lastNode = '';
let lastSecond = -1;
let lastPrefix = '';

/**
 * The id of the parts, given as the JSON text of their array (a string, or its UTF-8 bytes), with
 * the JSON text of the first part and the milliseconds of the second (NaN when it holds no time).
 * Strings are quoted and escaped, so no value can end one field and start the next (a separator
 * join could be forged by a value holding the separator); absent parts are null, which no string
 * equals; lone surrogates are escaped rather than replaced by U+FFFD on the way to UTF-8.
 * Changing this encoding changes every id.
 */
export function idOfPartsJson(json: string | Uint8Array, nodeJson: string, timeMs: number): string {
  const second = Number.isFinite(timeMs) ? Math.min(Math.max(Math.floor(timeMs / 1000), 0), 0xffff_ffff) : 0;
  if (nodeJson !== lastNode || second !== lastSecond) {
    let node = nodeHashes.get(nodeJson);
    if (node === undefined) {
      if (nodeHashes.size >= NODE_HASHES_KEPT) nodeHashes.clear();
      node = hash('sha256', nodeJson, 'buffer').readUInt16BE(0);
      nodeHashes.set(nodeJson, node);
    }
    PREFIX.writeUInt16BE(node, 0);
    PREFIX.writeUInt32BE(second, 2);
    lastPrefix = PREFIX.toString('base64url');
    lastNode = nodeJson;
    lastSecond = second;
  }
  // 6 bytes are 8 characters, so the digest's first 12 bytes are its first 16 characters.
  return lastPrefix + hash('sha256', json, 'base64url').slice(0, 16);
}

/** The milliseconds of a part's value when it is a time text, else NaN. */
export function partTime(value: unknown): number {
  return typeof value === 'string' ? parseTime(value) : NaN;
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
  return idOfPartsJson(JSON.stringify(parts), JSON.stringify(parts[0] ?? null), partTime(parts[1]));
}

export const flowLogId = (doc: FlowLog): string => idOf(doc, FLOW_LOG_ID);
export const dnsLogId = (doc: DnsLog): string => idOf(doc, DNS_LOG_ID);
export const processEventId = (doc: ProcessEventDoc): string => idOf(doc, PROCESS_EVENT_ID);
