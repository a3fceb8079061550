// Index names. Documents go to daily indices chosen by their own @timestamp, so a retried
// batch lands in the same index with the same ids and overwrites instead of duplicating.
import { parseTime } from './time.js';

export const DOC_KINDS = ['flows', 'process', 'dns'] as const;
export type DocKind = (typeof DOC_KINDS)[number];

export const INDEX_PREFIX = 'procflow';

export const FLOWS_PATTERN = `${INDEX_PREFIX}-flows-*`;
export const PROCESS_PATTERN = `${INDEX_PREFIX}-process-*`;
export const DNS_PATTERN = `${INDEX_PREFIX}-dns-*`;
export const DEAD_LETTER_PATTERN = `${INDEX_PREFIX}-deadletter-*`;

export const INDEX_PATTERNS: Record<DocKind | 'deadletter', string> = {
  flows: FLOWS_PATTERN,
  process: PROCESS_PATTERN,
  dns: DNS_PATTERN,
  deadletter: DEAD_LETTER_PATTERN,
};

// Documents of one batch nearly always share a day: remember the last day's name per kind
// instead of formatting a date for every document.
const lastDay = new Map<string, { day: number; name: string }>();

/** `procflow-<kind>-YYYY.MM.DD` for the UTC day of `timestamp` (ISO string or epoch ms). */
export function dailyIndex(kind: DocKind | 'deadletter', timestamp: string | number): string {
  const ms = typeof timestamp === 'number' ? timestamp : parseTime(timestamp);
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw new RangeError(`schema: not a timestamp: ${String(timestamp)}`);
  const day = Math.floor(ms / 86_400_000);
  const cached = lastDay.get(kind);
  if (cached?.day === day) return cached.name;
  const name = `${INDEX_PREFIX}-${kind}-${new Date(ms).toISOString().slice(0, 10).replaceAll('-', '.')}`;
  lastDay.set(kind, { day, name });
  return name;
}
