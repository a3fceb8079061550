// Retry delays for the agent's shipper and the indexer's bulk writer: exponential with jitter,
// so many agents (or batches) recovering at once do not stampede the indexer or the cluster.
// The agent also honours the server's Retry-After, which always wins as a lower bound.
import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, o: BackoffOptions = {}): number {
  const base = o.baseMs ?? 500;
  const max = o.maxMs ?? 30_000;
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + (o.random ?? Math.random)() * (ceiling - base / 2));
}

/** Waits out the backoff delay of `attempt`. */
export function backoff(attempt: number, o: BackoffOptions = {}): Promise<void> {
  return sleep(backoffDelay(attempt, o));
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `now`; undefined when absent or bad. */
export function parseRetryAfter(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const s = header.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
