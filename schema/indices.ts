// Index names. Documents go to daily indices chosen by their own @timestamp, so a retried
// batch lands in the same index with the same ids and overwrites instead of duplicating.

export const DOC_KINDS = ['flows', 'process'] as const;
export type DocKind = (typeof DOC_KINDS)[number];

export const INDEX_PREFIX = 'procflow';

export const FLOWS_PATTERN = `${INDEX_PREFIX}-flows-*`;
export const PROCESS_PATTERN = `${INDEX_PREFIX}-process-*`;
export const DEAD_LETTER_PATTERN = `${INDEX_PREFIX}-deadletter-*`;

export const INDEX_PATTERNS: Record<DocKind | 'deadletter', string> = {
  flows: FLOWS_PATTERN,
  process: PROCESS_PATTERN,
  deadletter: DEAD_LETTER_PATTERN,
};

/** `procflow-<kind>-YYYY.MM.DD` for the UTC day of `timestamp` (ISO string or epoch ms). */
export function dailyIndex(kind: DocKind | 'deadletter', timestamp: string | number): string {
  const d = new Date(timestamp);
  if (Number.isNaN(d.getTime())) throw new RangeError(`schema: not a timestamp: ${String(timestamp)}`);
  const day = d.toISOString().slice(0, 10).replaceAll('-', '.');
  return `${INDEX_PREFIX}-${kind}-${day}`;
}
