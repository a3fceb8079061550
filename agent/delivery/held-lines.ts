// NDJSON lines held for the next interval's write, as bytes outside the JavaScript heap. An
// interval's process events used to wait as documents (object trees), which every young-generation
// collection in the interval copied and then promoted, only for them to die at the flush: on the
// exec workload that was a fifth of the agent's time per exec. Serialised as they come, the
// same lines wait as bytes the collector never walks.
import { JsonBytes } from '../../common/doc-json.js';

/** Bytes per block: large enough for a few hundred documents, small enough to free soon. */
const BLOCK_BYTES = 256 * 1024;

export class HeldLines {
  private blocks: Buffer[] = [];
  private block: Buffer | undefined;
  private used = 0;
  private lines = 0;

  /** Lines held. */
  get count(): number {
    return this.lines;
  }

  /** Holds the first `n` bytes of `line` (one line, without its newline). */
  add(line: Buffer, n: number): void {
    if (!this.block || this.block.length - this.used < n + 1) {
      this.close();
      // Not from Buffer's shared pool: each block is handed to the output and then let go.
      this.block = Buffer.allocUnsafeSlow(Math.max(BLOCK_BYTES, n + 1));
    }
    this.used += line.copy(this.block, this.used, 0, n);
    this.block[this.used++] = 0x0a;
    this.lines++;
  }

  /** The held bytes in blocks, in order; holds nothing after. */
  take(): { blocks: Buffer[]; lines: number } {
    this.close();
    const taken = { blocks: this.blocks, lines: this.lines };
    this.blocks = [];
    this.lines = 0;
    return taken;
  }

  private close(): void {
    if (this.block && this.used > 0) this.blocks.push(this.block.subarray(0, this.used));
    this.block = undefined;
    this.used = 0;
  }
}

/** Each line of `blocks` (its newline included), in order, as views of the blocks. */
export function* linesOf(blocks: readonly Buffer[]): Generator<Buffer> {
  for (const block of blocks) {
    for (let start = 0, nl = block.indexOf(0x0a); nl !== -1; start = nl + 1, nl = block.indexOf(0x0a, start)) yield block.subarray(start, nl + 1);
  }
}

/** Writes one document's JSON (one line, no newline) into `out`. */
export type DocWriter = (doc: object, out: JsonBytes) => void;

/**
 * Documents serialised as they are added, held as lines. A document the serialiser cannot write
 * (JSON cannot hold it) fails the write that follows, as it would have failed a write of the
 * documents themselves, instead of the caller that added it.
 */
export class HeldJson {
  private readonly lines = new HeldLines();
  private readonly out = new JsonBytes();
  private failed: Error | undefined;

  constructor(private readonly write: DocWriter) {}

  add(doc: object): void {
    this.out.reset();
    try {
      this.write(doc, this.out);
    } catch (err) {
      this.failed ??= err as Error;
      return;
    }
    this.lines.add(this.out.buf, this.out.len);
  }

  get count(): number {
    return this.lines.count;
  }

  /** What is held, and the first serialisation error since the last take; holds nothing after. */
  take(): { blocks: Buffer[]; lines: number; failed: Error | undefined } {
    const failed = this.failed;
    this.failed = undefined;
    return { ...this.lines.take(), failed };
  }
}
