// Who may ingest: bearer tokens (several valid at once, from --token and a token file that is
// re-read when it changes, so a rotation adds the new token, rolls the agents, then drops the
// old one), and failed attempts throttled per client address so tokens cannot be guessed fast.
import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken, TokenFile } from '../common/bearer-tokens.js';
import type { Logger } from '../common/log.js';

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

export interface TokenSources {
  token: string;
  tokenFile: string;
  /** How often the token file is checked for changes. */
  reloadIntervalMs?: number;
}

/** The valid tokens: --token (if given) and every line of --token-file (if given). */
export class TokenSet {
  private readonly fixed: Buffer | null;
  private readonly file: TokenFile | null;

  constructor(s: TokenSources, log: Logger) {
    this.fixed = s.token ? sha256(s.token) : null;
    this.file = s.tokenFile ? new TokenFile(s.tokenFile, { what: 'token file', flag: '--token-file', log, intervalMs: s.reloadIntervalMs ?? 2000 }) : null;
  }

  /** True when there is no token at all (client certificates alone authenticate). */
  get empty(): boolean {
    return !this.fixed && !this.file;
  }

  /** Whether an Authorization header carries one of the tokens (each compared in constant time). */
  check(authorization: string | undefined): boolean {
    const inFile = this.file?.accepts(authorization) ?? false;
    const given = bearerToken(authorization);
    const fixed = this.fixed !== null && timingSafeEqual(sha256(given ?? ''), this.fixed) && given !== undefined;
    return inFile || fixed;
  }

  stop(): void {
    this.file?.stop();
  }
}

/**
 * Failed authentications per client address, as a token bucket: `perMinute` failures refill
 * over a minute, and an address with none left is refused before its token is even compared
 * (so it learns nothing). The table is bounded: the stalest addresses are forgotten first.
 */
export class AuthThrottle {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

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
    this.buckets.delete(address);
    this.buckets.set(address, b);
    if (this.buckets.size > this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value!);
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
