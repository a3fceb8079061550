// Retry delays: exponential with "equal jitter" (half fixed, half random), so retries from many
// batches spread out instead of hitting a recovering cluster together.
import { setTimeout as sleep } from 'node:timers/promises';

export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** attempt);
  return cap / 2 + Math.random() * (cap / 2);
}

export function backoff(attempt: number, baseMs: number, maxMs: number): Promise<void> {
  return sleep(backoffDelay(attempt, baseMs, maxMs));
}
