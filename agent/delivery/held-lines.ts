// NDJSON lines held for the next interval's write, as bytes outside the JavaScript heap. An
// interval's process events used to wait as documents (object trees), which every young-generation
// collection in the interval copied and then promoted, only for them to die at the flush: on the
// exec workload that was a fifth of the agent's time per exec. Serialised as they come, the
// same lines wait as bytes the collector never walks.

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

  /** Holds `line` (without its newline). */
  add(line: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit, plus the newline.
    const most = line.length * 3 + 1;
    if (!this.block || this.block.length - this.used < most) {
      this.close();
      // Not from Buffer's shared pool: each block is handed to the output and then let go.
      this.block = Buffer.allocUnsafeSlow(Math.max(BLOCK_BYTES, most));
    }
    this.used += this.block.write(line, this.used, 'utf8');
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
