// Reuse of a process's document record (process_exec.process, or .parent of its children).
// Every exec emits two documents and names the parent in both, so the same image's record was
// built four times or more; now it is built once and reused while every value it was made from
// is unchanged. The check compares those values themselves (not a version number that each
// writer of an entry would have to bump), so a change from anywhere makes a new record.
import type { ProcessInfo } from '../../schema/index.js';
import type { InfoMemo, ProcessEntry } from './process-cache.js';
import { shareJson } from '../../common/doc-json.js';

/**
 * The values a record is made from, besides settings fixed at start: the entry's fields (objects
 * by identity: their holders replace them, never change them), and the user name, which the
 * caller looks up each time (its cache may learn a name later).
 */
function holds(from: readonly unknown[], e: ProcessEntry, user: string | undefined): boolean {
  return from[0] === e.execId && from[1] === e.pid && from[2] === e.binary && from[3] === e.comm && from[4] === e.argsText
    && from[5] === e.flags && from[6] === e.flags.length && from[7] === e.imageNs && from[8] === e.uid && from[9] === user
    && from[10] === e.auid && from[11] === e.cwd && from[12] === e.parentExecId && from[13] === e.containerId
    && from[14] === e.cgroupId && from[15] === e.creds && from[16] === e.caps && from[17] === e.ns;
}

/** The record kept for `e`, when it was made from what `e` holds now. */
export function reusableInfo(e: ProcessEntry, user: string | undefined): ProcessInfo | undefined {
  const m = e.infoMemo;
  return m && holds(m.from, e, user) ? m.info : undefined;
}

/** Keeps `info` with `e`, and what it was made from. */
export function keepInfo(e: ProcessEntry, user: string | undefined, info: ProcessInfo): void {
  const memo: InfoMemo = {
    info,
    from: [e.execId, e.pid, e.binary, e.comm, e.argsText, e.flags, e.flags.length, e.imageNs, e.uid, user,
      e.auid, e.cwd, e.parentExecId, e.containerId, e.cgroupId, e.creds, e.caps, e.ns],
  };
  e.infoMemo = memo;
  // Reused records are serialised once, whichever documents name them.
  shareJson(info);
}

/** Lets the kept record go (it stays in the documents that already hold it). */
export function forgetInfo(e: ProcessEntry): void {
  e.infoMemo = undefined;
}
