// The matrix's results: one row per kernel, kept in test/matrix/results.json (committed, so the
// README's table of supported kernels is generated from what was measured). Deterministic: rows
// in the kernel list's order, the host last, sorted failure names, and one `measured` date.
// Running a subset of kernels replaces those rows and keeps the others.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HookReport } from '../../native/types.js';
import { CHECKOUT } from './guest.js';
import { HOST_KERNEL_ID, KERNELS } from './kernels.js';
import type { TapSummary } from './tap.js';

export type RowStatus = 'passed' | 'failed' | 'timed out' | 'no boot' | 'skipped';

export interface MatrixRow {
  id: string;
  distro: string;
  /** Debian suite and package the kernel came from (null for the host). */
  suite: string | null;
  package: string | null;
  version: string | null;
  /** uname -r as the kernel reported it. */
  kernel: string;
  /** How the kernel ran: 'tcg', 'kvm' or 'host'. */
  accel: string;
  status: RowStatus;
  /** Why the row is not 'passed' beyond failed tests: boot failure, timeout, skip reason. */
  reason?: string;
  hooks: Array<Pick<HookReport, 'hook' | 'via' | 'target'>>;
  /** The collector could not open on this kernel: its error. */
  collectorError?: string;
  tests: TapSummary | null;
  /** Whether the end-to-end file (needs Elasticsearch) was part of the run. */
  e2e: string;
  seconds: { boot: number | null; report: number | null; suite: number | null };
}

export interface MatrixResults {
  measured: string;
  rows: MatrixRow[];
}

export const RESULTS_FILE = process.env.PROCFLOW_MATRIX_RESULTS ?? join(CHECKOUT, 'test', 'matrix', 'results.json');

const ORDER = [...KERNELS.map((k) => k.id), HOST_KERNEL_ID];

/** Merge the rows just measured into the file's; skipped rows keep what was measured before. */
export function writeResults(measuredRows: MatrixRow[], file = RESULTS_FILE): MatrixResults {
  let previous: MatrixRow[] = [];
  if (existsSync(file)) {
    try {
      previous = (JSON.parse(readFileSync(file, 'utf8')) as MatrixResults).rows ?? [];
    } catch {
      previous = [];
    }
  }
  const byId = new Map(previous.map((r) => [r.id, r]));
  for (const r of measuredRows) if (r.status !== 'skipped' || !byId.has(r.id)) byId.set(r.id, r);
  const rows = [...byId.values()].sort((a, b) => rank(a.id) - rank(b.id) || a.id.localeCompare(b.id));
  const results: MatrixResults = { measured: new Date().toISOString().slice(0, 10), rows };
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return results;
}

function rank(id: string): number {
  const i = ORDER.indexOf(id);
  return i < 0 ? ORDER.length : i;
}
