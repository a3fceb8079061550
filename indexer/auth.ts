// Who may ingest: bearer tokens (several valid at once, from --token and a token file that is
// re-read when it changes, so a rotation adds the new token, rolls the agents, then drops the
// old one), and failed attempts throttled per client address (AuthThrottle, shared with the
// agent's port) so tokens cannot be guessed fast.
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

export { AuthThrottle } from '../common/bearer-tokens.js';
