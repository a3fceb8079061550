// Document times: ISO-8601 text, read as Date.parse reads it. The form agents write (that of
// toISOString, with or without milliseconds) is read here by hand: Date.parse costs more than
// the rest of a document's checks together, and every document has three times. The result is
// Date.parse's, which test/unit/schema-scan.test.ts holds it to.

const ZERO = 0x30;

/** The number the n digits at b[i, i + n) write, or -1 when one is not a digit. */
function digits(b: Uint8Array, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const d = b[k]! - ZERO;
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
 * The text at b[a, e) in the agents' form, `YYYY-MM-DDTHH:MM:SS.sssZ` or `YYYY-MM-DDTHH:MM:SSZ`
 * with every field in range (a day up to 31 in any month, as Date.parse takes it): its
 * milliseconds since the epoch; NaN for any other text (which Date.parse may still read).
 */
export function agentTimeAt(b: Uint8Array, a: number, e: number): number {
  const n = e - a;
  if (n !== 24 && n !== 20) return NaN;
  if (b[a + 4] !== 0x2d || b[a + 7] !== 0x2d || b[a + 10] !== 0x54 || b[a + 13] !== 0x3a || b[a + 16] !== 0x3a || b[e - 1] !== 0x5a) return NaN;
  const year = digits(b, a, 4);
  const month = digits(b, a + 5, 2);
  const day = digits(b, a + 8, 2);
  const hour = digits(b, a + 11, 2);
  const minute = digits(b, a + 14, 2);
  const second = digits(b, a + 17, 2);
  const milli = n === 24 ? (b[a + 19] === 0x2e ? digits(b, a + 20, 3) : -1) : 0;
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || milli < 0) return NaN;
  return daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli;
}

const chars = new Uint8Array(24);
// The documents of a batch mostly share their times, and each is read more than once.
let lastText = '';
let lastMs = NaN;

/** Milliseconds since the epoch of a time text, as Date.parse gives them (NaN when it cannot read it). */
export function parseTime(text: string): number {
  if (text === lastText) return lastMs;
  const n = text.length;
  let ms = NaN;
  if (n === 24 || n === 20) {
    let k = 0;
    for (; k < n; k++) {
      const c = text.charCodeAt(k);
      if (c > 0x7f) break;
      chars[k] = c;
    }
    if (k === n) ms = agentTimeAt(chars, 0, n);
  }
  if (Number.isNaN(ms)) ms = Date.parse(text);
  lastText = text;
  lastMs = ms;
  return ms;
}
