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
