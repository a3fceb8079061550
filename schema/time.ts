// Document times: ISO-8601 text, read as Date.parse reads it. The form agents write (that of
// toISOString, with or without milliseconds) is read here by hand: Date.parse costs more than
// the rest of a document's checks together, and every document has three times. The result is
// Date.parse's, which test/unit/schema-scan.test.ts holds it to.

const ZERO = 0x30;

/** The number the n digits at s[i, i + n) write, or -1 when one is not a digit. */
function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const d = s.charCodeAt(k) - ZERO;
    if (!(d >= 0 && d <= 9)) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Days from 1970-01-01 to a day of the proleptic Gregorian calendar (a day past its month's end rolls over, as in Date.UTC). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ` or `YYYY-MM-DDTHH:MM:SSZ` with every field in range (a day up to
 * 31 in any month, as Date.parse takes it): its milliseconds since the epoch; NaN for any other text.
 */
function agentTime(s: string): number {
  const n = s.length;
  if (n !== 24 && n !== 20) return NaN;
  if (s.charCodeAt(4) !== 0x2d || s.charCodeAt(7) !== 0x2d || s.charCodeAt(10) !== 0x54 || s.charCodeAt(13) !== 0x3a || s.charCodeAt(16) !== 0x3a || s.charCodeAt(n - 1) !== 0x5a) return NaN;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  const milli = n === 24 ? (s.charCodeAt(19) === 0x2e ? digits(s, 20, 3) : -1) : 0;
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || milli < 0) return NaN;
  return daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli;
}

/** Milliseconds since the epoch of a time text, as Date.parse gives them (NaN when it cannot read it). */
export function parseTime(text: string): number {
  const ms = agentTime(text);
  return Number.isNaN(ms) ? Date.parse(text) : ms;
}
