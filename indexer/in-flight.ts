// Admission control: at most N ingest requests and B decompressed body bytes at once. Nothing
// waits in a queue: a request over either limit is answered 503 with Retry-After, so memory
// stays bounded however many agents send at once.

export interface Ticket {
  /** Holds `n` more bytes for this request; false (and nothing held) when over the limit. */
  reserve(n: number): boolean;
  /** Gives back everything this request held. Safe to call twice. */
  release(): void;
}

export class InFlight {
  private requestCount = 0;
  private byteCount = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly maxRequests: number,
    private readonly maxBytes: number,
  ) {}

  get requests(): number {
    return this.requestCount;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** A ticket for one request, or null when the request limit is reached. */
  tryEnter(): Ticket | null {
    if (this.requestCount >= this.maxRequests) return null;
    this.requestCount++;
    let held = 0;
    let released = false;
    return {
      reserve: (n) => {
        if (released || this.byteCount + n > this.maxBytes) return false;
        this.byteCount += n;
        held += n;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.byteCount -= held;
        this.requestCount--;
        if (this.requestCount === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      },
    };
  }

  /** Resolves when no request is in flight. */
  idle(): Promise<void> {
    if (this.requestCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
