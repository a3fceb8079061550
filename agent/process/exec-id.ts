// exec_id, as Tetragon builds it: base64 of "node:start:pid". Stable for a process start (the
// same whether the process was seen by an exec event or by the /proc scan, because the start time
// is cut to clock ticks first), unique per node, and computable for the parent from its
// pid and start time alone.
import { NS_PER_TICK, startTickNs } from './clock.js';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * base64 of `node:` + an ASCII tail, without a Buffer per id: one is made for every process the
 * cache learns of. The node's bytes up to a multiple of three encode the same in every id, so
 * their text is made once; the rest of the node's bytes lead the tail's.
 */
class IdEncoder {
  private readonly head: string;
  private readonly carry: readonly number[];

  constructor(readonly node: string) {
    const bytes = Buffer.from(`${node}:`);
    const cut = bytes.length - (bytes.length % 3);
    this.head = bytes.subarray(0, cut).toString('base64');
    this.carry = [...bytes.subarray(cut)];
  }

  /** base64 of `node:` + `tail` (tail: ASCII only, as digits and colons are). */
  encode(tail: string): string {
    const n = this.carry.length + tail.length;
    const at = (i: number) => (i < this.carry.length ? this.carry[i]! : tail.charCodeAt(i - this.carry.length));
    let out = this.head;
    let i = 0;
    for (; i + 2 < n; i += 3) {
      const v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
      out += B64[v >> 18]! + B64[(v >> 12) & 63]! + B64[(v >> 6) & 63]! + B64[v & 63]!;
    }
    if (n - i === 1) {
      const v = at(i) << 16;
      out += `${B64[v >> 18]!}${B64[(v >> 12) & 63]!}==`;
    } else if (n - i === 2) {
      const v = (at(i) << 16) | (at(i + 1) << 8);
      out += `${B64[v >> 18]!}${B64[(v >> 12) & 63]!}${B64[(v >> 6) & 63]!}=`;
    }
    return out;
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
const keyTexts: string[] = new Array<string>(KEY_SLOTS).fill('');

/**
 * The cache key of a process start: pid and start time in whole clock ticks (the tick count
 * rather than its nanoseconds: one bigint operation and a shorter text, for every lookup). A
 * key made recently is returned again: no bigint division, and a string whose hash is known.
 */
export function processKey(pid: number, startNs: bigint): string {
  const slot = pid & (KEY_SLOTS - 1);
  if (keyPids[slot] === pid && keyStarts[slot] === startNs) return keyTexts[slot]!;
  const key = `${pid}:${startNs / NS_PER_TICK}`;
  keyPids[slot] = pid;
  keyStarts[slot] = startNs;
  keyTexts[slot] = key;
  return key;
}
