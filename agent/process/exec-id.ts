// exec_id, as Tetragon builds it: base64 of "node:start:pid". Stable for a process start (the
// same whether the process was seen by an exec event or by the /proc scan, because the start time
// is cut to clock ticks first), unique per node, and computable for the parent from its
// pid and start time alone.
import { NS_PER_TICK, startTickNs } from './clock.js';

/** Longest tail encoded: a 64-bit number, a colon and a 32-bit pid, with room to spare. */
const TAIL_MAX = 64;

/**
 * base64 of `node:` + an ASCII tail, through one Buffer kept for all ids: one is made for every
 * process the cache learns of. The node's bytes are written into it once; each id writes its
 * tail after them and reads the base64 back as one flat string. (Built a piece at a time in
 * JavaScript, an id was a tree of about ten concatenated strings: some 500 bytes per cached
 * process until something flattened it.)
 */
class IdEncoder {
  private readonly scratch: Buffer;
  private readonly headLength: number;

  constructor(readonly node: string) {
    const head = Buffer.from(`${node}:`);
    this.scratch = Buffer.allocUnsafeSlow(head.length + TAIL_MAX);
    this.headLength = head.copy(this.scratch, 0);
  }

  /** base64 of `node:` + `tail` (tail: ASCII only, as digits and colons are). */
  encode(tail: string): string {
    const n = this.headLength + this.scratch.write(tail, this.headLength, TAIL_MAX, 'latin1');
    return this.scratch.toString('base64', 0, n);
  }
}

let encoder: IdEncoder | undefined;

function encoderFor(node: string): IdEncoder {
  if (encoder?.node !== node) encoder = new IdEncoder(node);
  return encoder;
}

export function execId(node: string, pid: number, startNs: bigint): string {
  return encoderFor(node).encode(`${startTickNs(startNs)}:${pid}`);
}

/**
 * The id of an image an exec without fork started: the exec's time at full precision (two execs
 * of one process can fall into one clock tick), so it never equals a start's id.
 */
export function imageExecId(node: string, pid: number, execNs: bigint): string {
  return encoderFor(node).encode(`${execNs}:${pid}`);
}

/** Recent keys by pid: a process is looked up at its fork, exec and exit, its parent at each child's. */
const KEY_SLOTS = 256;
const keyPids = new Int32Array(KEY_SLOTS).fill(-1);
const keyStarts: bigint[] = new Array<bigint>(KEY_SLOTS).fill(-1n);
const keyValues = new Float64Array(KEY_SLOTS);

/** Pids are below 2^22 (the kernel's PID_MAX_LIMIT); start ticks take the 31 bits above them. */
const PID_SPAN = 2 ** 22;
const TICK_SPAN = 2n ** 31n;

/** A process start as the cache keys it (processKey). */
export type ProcessKey = number;

/**
 * The cache key of a process start: its start in whole clock ticks, modulo 2^31 (248 days at 100
 * ticks a second), times 2^22, plus the pid, exact in a double. A number rather than text:
 * V8's Map hashes a number as it is, but interns every new string key first (a string-table
 * lookup and insert per process: 3% of the live agent's samples under a fork+exec load). Two starts share a
 * key only with the same pid and starts a multiple of 248 days apart to the tick, while the older
 * is still cached: the pid was free again, so it exited, less than --exit-retention before.
 * A key made recently is returned again: no bigint division.
 */
export function processKey(pid: number, startNs: bigint): ProcessKey {
  const slot = pid & (KEY_SLOTS - 1);
  if (keyPids[slot] === pid && keyStarts[slot] === startNs) return keyValues[slot]!;
  const key = Number((startNs / NS_PER_TICK) % TICK_SPAN) * PID_SPAN + pid;
  keyPids[slot] = pid;
  keyStarts[slot] = startNs;
  keyValues[slot] = key;
  return key;
}
