// _bulk request bodies from a batch's entries (see arena.ts): groups of about --bulk-flush-bytes
// or less, and a group's body as a stream of views of the slabs the entries were written to, so
// sending a bulk request copies nothing and allocates no buffer.
import { Readable } from 'node:stream';
import type { BulkEntries } from './arena.js';

/**
 * Splits entries 0..count-1 into as few groups as keep each to about `flushBytes`, of even
 * size (a batch a little over the size makes two halves, not a full request and a small one
 * that costs a request of its own).
 */
export function splitByBytes(entries: BulkEntries, flushBytes: number): number[][] {
  let total = 0;
  for (let n = 0; n < entries.count; n++) total += entries.size(n);
  const target = total / Math.max(1, Math.ceil(total / flushBytes));
  const groups: number[][] = [];
  let group: number[] = [];
  let size = 0;
  for (let n = 0; n < entries.count; n++) {
    group.push(n);
    size += entries.size(n);
    if (size >= target) {
      groups.push(group);
      group = [];
      size = 0;
    }
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
