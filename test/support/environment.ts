// Skipping rules shared by all suites: a test that needs a real part (Elasticsearch, the
// kernel) may skip on a developer machine, with the reason printed, but never under CI=true.
import type { TestContext } from 'node:test';

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** Skip `t` with `reason`, or fail it when running in CI. */
export function skipOrFail(t: TestContext, reason: string): void {
  if (IN_CI) throw new Error(`required in CI (CI=true), but unavailable: ${reason}`);
  t.diagnostic(`skipped: ${reason}`);
  t.skip(reason);
}

/**
 * Skip `t` because the kernel under test cannot have what it checks (e.g. a tracepoint added
 * later). Allowed under CI: the matrix counts these as "n/a" per kernel, with the reason.
 */
export function notApplicable(t: TestContext, reason: string): void {
  t.diagnostic(`not applicable on this kernel: ${reason}`);
  t.skip(`not applicable on this kernel: ${reason}`);
}
