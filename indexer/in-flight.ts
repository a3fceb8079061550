// Admission control: at most B decompressed body bytes held at once across requests, and at
// most N batches being validated and written at once. Nothing waits in a queue: a request over
// either limit is answered 503 with Retry-After, so memory stays bounded however many agents
// send at once. A request takes its processing slot only once its body is complete, so clients
// that upload slowly hold nothing but the bytes they sent and cannot starve the others.

export interface Ticket {
  /** Holds `n` more bytes for this request; false (and nothing held) when over the limit. */
  reserve(n: number): boolean;
  /** Takes a processing slot; false when all are busy (the request is then answered 503). */
  admit(): boolean;
  /** Gives back everything this request held. Safe to call twice. */
  release(): void;
}

export class InFlight {
  private open = 0;
  private processing = 0;
  private byteCount = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly maxRequests: number,
    private readonly maxBytes: number,
  ) {}

  /** Requests holding a processing slot. */
  get requests(): number {
    return this.processing;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** A ticket for one request (reading its body, then processing it). */
  enter(): Ticket {
    this.open++;
    let held = 0;
    let slot = false;
    let released = false;
    return {
      reserve: (n) => {
        if (released || this.byteCount + n > this.maxBytes) return false;
        this.byteCount += n;
        held += n;
        return true;
      },
      admit: () => {
        if (released || slot) return slot;
        if (this.processing >= this.maxRequests) return false;
        this.processing++;
        slot = true;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.byteCount -= held;
        if (slot) this.processing--;
        this.open--;
        if (this.open === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      },
    };
  }

  /** Resolves when no request is being read or processed. */
  idle(): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
