// exec_id, as Tetragon builds it: base64 of "node:start:pid". Stable for a process start (the
// same whether the process was seen by an exec event or by the /proc scan, because the start time
// is cut to clock ticks first), unique per node, and computable for the parent from its
// pid and start time alone.
import { NS_PER_TICK, startTickNs } from './clock.js';

export function execId(node: string, pid: number, startNs: bigint): string {
  return Buffer.from(`${node}:${startTickNs(startNs)}:${pid}`).toString('base64');
}

/**
 * The id of an image an exec without fork started: the exec's time at full precision (two execs
 * of one process can fall into one clock tick), so it never equals a start's id.
 */
export function imageExecId(node: string, pid: number, execNs: bigint): string {
  return Buffer.from(`${node}:${execNs}:${pid}`).toString('base64');
}

/**
 * The cache key of a process start: pid and start time in whole clock ticks (the tick count
 * rather than its nanoseconds: one bigint operation and a shorter text, for every lookup).
 */
export function processKey(pid: number, startNs: bigint): string {
  return `${pid}:${startNs / NS_PER_TICK}`;
}
