// Splits a byte stream into lines without copying: a line inside one chunk is a view of that
// chunk; only a line that spans chunks is joined. Line numbers count every line, blank or not.

export type LineHandler = (line: Buffer, lineNo: number) => void;

const NEWLINE = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  private pending: Buffer[] = [];
  private lineNo = 0;

  constructor(private readonly onLine: LineHandler) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      let line = chunk.subarray(start, nl);
      if (this.pending.length) {
        this.pending.push(line);
        line = Buffer.concat(this.pending);
        this.pending = [];
      }
      this.emit(line);
      start = nl + 1;
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
  }

  /** The last line when the body does not end with a newline. */
  end(): void {
    if (this.pending.length) this.emit(Buffer.concat(this.pending));
    this.pending = [];
  }

  private emit(line: Buffer): void {
    this.lineNo++;
    this.onLine(line.length && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line, this.lineNo);
  }
}
