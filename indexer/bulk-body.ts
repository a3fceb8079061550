// _bulk request bodies from a batch's entries (see arena.ts): groups of about --bulk-flush-bytes
// each, and a group's body as a stream of views of the slabs the entries were written to, so
// sending a bulk request copies nothing and allocates no buffer.
import { Readable } from 'node:stream';
import type { BulkEntries } from './arena.js';

/** Splits entries 0..count-1 into groups whose bulk bodies are about `flushBytes` each. */
export function splitByBytes(entries: BulkEntries, flushBytes: number): number[][] {
  const groups: number[][] = [];
  let group: number[] = [];
  let size = 0;
  for (let n = 0; n < entries.count; n++) {
    const s = entries.size(n);
    if (group.length > 0 && size + s > flushBytes) {
      groups.push(group);
      group = [];
      size = 0;
    }
    group.push(n);
    size += s;
  }
  if (group.length) groups.push(group);
  return groups;
}

/** The bulk body of these entries, in this order. */
export function bulkBody(entries: BulkEntries, group: readonly number[]): Readable {
  const pieces = entries.pieces(group);
  let next = 0;
  return new Readable({
    read() {
      this.push(next < pieces.length ? pieces[next++]! : null);
    },
  });
}
