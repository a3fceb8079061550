// The one line splitter of every NDJSON stream: the indexer's request bodies, the Kubernetes
// watch and the agent's /v1/events stream read by `procflow events`.
// Splits a byte stream into lines without copying: a line inside one chunk is a view of that
// chunk; only a line that spans chunks is joined (and, of a chunk whose memory is reused, its
// unfinished last line copied). A trailing CR is dropped (CRLF lines). Line
// numbers count every line, blank or not. A line longer than the limit fails as soon as its
// bytes pass it, before any of it is joined, so one endless line cannot grow memory.

export type LineHandler = (line: Buffer, lineNo: number) => void;

export interface LineLimit {
  maxBytes: number;
  /** The error thrown (from push) when line `lineNo` passes maxBytes. */
  tooLong(lineNo: number, maxBytes: number): Error;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineNo = 0;

  constructor(
    private readonly onLine: LineHandler,
    private readonly limit: LineLimit | null = null,
  ) {}

  /**
   * `transient`: the chunk's memory is reused once this returns (a decompression buffer), so
   * the unfinished line at its end is copied; complete lines are still views, read during the call.
   */
  push(chunk: Buffer, transient = false): void {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      let line = chunk.subarray(start, nl);
      this.check(this.pendingBytes + line.length);
      if (this.pending.length) {
        this.pending.push(line);
        line = Buffer.concat(this.pending);
        this.pending = [];
        this.pendingBytes = 0;
      }
      this.emit(line);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.check(this.pendingBytes + rest.length);
      this.pending.push(transient ? Buffer.from(rest) : rest);
      this.pendingBytes += rest.length;
    }
  }

  /** The last line when the body does not end with a newline. */
  end(): void {
    if (this.pending.length) this.emit(Buffer.concat(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Early bound while a line is still arriving (its CR may still be stripped: one byte of slack). */
  private check(bytes: number): void {
    if (this.limit && bytes > this.limit.maxBytes + 1) throw this.limit.tooLong(this.lineNo + 1, this.limit.maxBytes);
  }

  private emit(raw: Buffer): void {
    const line = raw.length && raw[raw.length - 1] === CR ? raw.subarray(0, raw.length - 1) : raw;
    if (this.limit && line.length > this.limit.maxBytes) throw this.limit.tooLong(this.lineNo + 1, this.limit.maxBytes);
    this.lineNo++;
    this.onLine(line, this.lineNo);
  }
}

/**
 * The lines of a live stream (an HTTP response), for `for await`: the splitter above, pulling
 * the next chunk only once the lines before were taken, so a slow consumer holds the stream
 * back. Every record of such a stream ends with a newline; a last piece without one is what a
 * cut connection left of a record, and is dropped.
 */
export async function* streamLines(source: AsyncIterable<Buffer>, limit: LineLimit | null = null): AsyncGenerator<Buffer> {
  let ready: Buffer[] = [];
  const splitter = new LineSplitter((line) => void ready.push(line), limit);
  for await (const chunk of source) {
    splitter.push(chunk);
    const lines = ready;
    ready = [];
    yield* lines;
  }
}
