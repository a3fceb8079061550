// Bearer tokens kept in a file (one a line), re-read when the file changes so a rotation needs no
// restart: the agent sends the first one to the indexer, and its own HTTP port accepts any of
// them. Checks hash both sides first, so the comparison is constant-time and does not leak the
// length of a token.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from './log.js';
import { OrderedMap } from './ordered-map.js';
import { parseTokens, watchFile, type WatchedFile } from './watched-file.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The token of an `Authorization: Bearer T` header; undefined for any other header. */
export const bearerToken = (authorization: string | undefined): string | undefined => /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '')?.[1];

export interface TokenFileOptions {
  /** What the file is and which flag names it, for messages. */
  what: string;
  flag: string;
  log: Logger;
  intervalMs?: number;
}

export class TokenFile {
  private tokens: string[] = [];
  private digests: Buffer[] = [];
  private readonly watched: WatchedFile;

  /** Reads the file now: a missing, unreadable or empty one is a ConfigError naming the flag. */
  constructor(readonly path: string, o: TokenFileOptions) {
    let initial = true;
    this.watched = watchFile(path, {
      what: o.what,
      flag: o.flag,
      intervalMs: o.intervalMs,
      onChange: (contents) => {
        this.tokens = parseTokens(contents, `${path} (${o.flag})`);
        this.digests = this.tokens.map(digest);
        if (!initial) o.log.info({ file: path, tokens: this.tokens.length }, `${o.what} changed; its tokens are used from now on`);
        initial = false;
      },
      onError: (err) => o.log.error({ file: path, err: err.message }, `${o.what} changed but cannot be used; the previous tokens stay in use`),
    });
  }

  /** The token to send: the first one in the file. */
  get first(): string {
    return this.tokens[0]!;
  }

  /** Whether the header carries one of the tokens. */
  accepts(authorization: string | undefined): boolean {
    const given = bearerToken(authorization);
    const probe = digest(given ?? '');
    // Every token is compared, so the time taken does not tell which one (if any) matched.
    let hit = false;
    for (const d of this.digests) hit = timingSafeEqual(probe, d) || hit;
    return hit && given !== undefined;
  }

  stop(): void {
    this.watched.stop();
  }
}

/**
 * Failed authentications per client address, as a token bucket: `perMinute` failures refill
 * over a minute, and an address with none left is refused before its token is even compared
 * (so it learns nothing). The table is bounded: the stalest addresses are forgotten first.
 */
export class AuthThrottle {
  private readonly buckets = new OrderedMap<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly maxAddresses = 65_536,
  ) {}

  /** Milliseconds until `address` may try again, or 0 when it may try now. */
  retryAfterMs(address: string, now = Date.now()): number {
    const b = this.refill(address, now);
    return b && b.tokens < 1 ? Math.ceil(((1 - b.tokens) * 60_000) / this.perMinute) : 0;
  }

  /** Counts a failed attempt of `address`. */
  failed(address: string, now = Date.now()): void {
    const b = this.refill(address, now) ?? { tokens: this.perMinute, at: now };
    b.tokens -= 1;
    this.buckets.set(address, b); // now the most recent
    if (this.buckets.size > this.maxAddresses) this.buckets.shift();
  }

  private refill(address: string, now: number): { tokens: number; at: number } | undefined {
    const b = this.buckets.get(address);
    if (!b) return undefined;
    b.tokens = Math.min(this.perMinute, b.tokens + ((now - b.at) * this.perMinute) / 60_000);
    b.at = now;
    if (b.tokens >= this.perMinute) {
      this.buckets.delete(address);
      return undefined;
    }
    return b;
  }
}
