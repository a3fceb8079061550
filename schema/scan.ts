// Scanners compiled from a field table: they read a document's JSON text once, byte by byte,
// and check it against the table without building it. Only what the contract needs is taken
// out: the values at its key paths (its time, what its checks beyond the table read) into a
// small object of the same shape, and the text of its id parts, hashed as ids.ts hashes the
// parsed values. The indexer so names and identifies a document without JSON.parse.
//
// A scanner also checks that a line is UTF-8 (the caller need not): bytes above 0x7f are
// accepted only inside strings, as the well-formed sequences node's isUtf8 accepts.
//
// A scanner vouches for a line or declines it, never more: it answers only when the full parse
// and the validator would accept the line, with the values and id they would give; anything it
// is unsure of (escapes in a key, duplicate keys, numbers other than plain integers, a failed
// check, malformed JSON) returns null, and the caller parses and validates the line in full,
// which gives the reason. Both are held to the same answers by test/unit/schema-scan.test.ts.
import { isIP } from 'node:net';
import { idOfPartsJson, partTime, type IdRecipe } from './ids.js';
import { agentTimeAt } from './time.js';
import { FLATTENED_MAX_KEYS, isDate } from './validate.js';
import type { FieldSpec, FieldTable } from './field-spec.js';

export interface ScannedDoc {
  /** The document cut down to the key paths (absent fields absent). */
  keys: Record<string, unknown>;
  /** Its id: idOf(document, recipe) without the document. */
  id: string;
}

/** A line's document as far as the contract needs it, or null when the line must be parsed in full. */
export type Scanner = (line: Buffer) => ScannedDoc | null;

export interface ScannerSpec {
  /**
   * Dotted paths through objects (not arrays): the values there go into the cut-down document,
   * and the objects on the way are there when the document has them.
   */
  keys: readonly string[];
  id: IdRecipe;
  /** The contract's checks beyond the table; they see the cut-down document only. */
  refine?: (keys: Record<string, unknown>) => string | null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const DOT = 0x2e;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const LOWER_N = 0x6e;
const UPPER_E = 0x45;
const NOT_SURE = -1;
/** Integers of at most this many digits are exact in a double (and safe integers). */
const EXACT_DIGITS = 15;
const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

/** Scans one value starting at `i` (whitespace skipped); the index after it, or NOT_SURE. */
type ValueScan = (b: Buffer, i: number) => number;

// What the last string or number scanned held. Scanning is synchronous, so one set of these
// serves every scanner.
let stringStart = -1;
let stringEscaped = false;
let integer = 0;
/**
 * The memory of the line being scanned, seen four bytes at a time, and where the line starts in
 * it (set by each scanner call). Lines are views of a few large buffers, so the view is made
 * again only when the buffer changes.
 */
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
let viewBase = 0;

/**
 * The bytes b[a, e) as a string (of a string the scanner found valid UTF-8). Only the few
 * values wanted as strings are decoded, each alone: cheaper than the whole line.
 */
function text(b: Buffer, a: number, e: number): string {
  return b.toString('utf8', a, e);
}

const skipSpace = (b: Buffer, i: number): number => {
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
};

/** ASCII bytes that stand for themselves inside a string: not a quote, a backslash or a control character. */
const IN_STRING = new Uint8Array(256).map((_, c) => (c >= 0x20 && c < 0x80 && c !== QUOTE && c !== BACKSLASH ? 1 : 0));

/**
 * The bytes of `w` (four, little-endian) that are a quote, a backslash, a control character or
 * not ASCII, as their top bits (the "has a byte less than n" and "has a zero byte" word tricks).
 * A borrow can flag a byte above a flagged one, never below: the lowest flag is exact, and so
 * is zero.
 */
function stringStops(w: number): number {
  const quote = w ^ 0x22222222;
  const backslash = w ^ 0x5c5c5c5c;
  return (w | ((w - 0x20202020) & ~w) | ((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash)) & 0x80808080;
}

const isContinuation = (c: number | undefined) => c !== undefined && c >= 0x80 && c <= 0xbf;

/**
 * The length of the well-formed UTF-8 sequence that starts with the byte b[j] (above 0x7f), or
 * NOT_SURE: no overlong forms, surrogates or code points past U+10FFFF, nothing cut off.
 */
function utf8Length(b: Buffer, j: number): number {
  const c = b[j]!;
  if (c >= 0xc2 && c <= 0xdf) return isContinuation(b[j + 1]) ? 2 : NOT_SURE;
  if (c >= 0xe0 && c <= 0xef) {
    const d = b[j + 1];
    // E0 must not be overlong (A0-BF next), ED must not be a surrogate (80-9F next).
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return d !== undefined && d >= lo && d <= hi && isContinuation(b[j + 2]) ? 3 : NOT_SURE;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const d = b[j + 1];
    // F0 must not be overlong (90-BF next), F4 must stay within U+10FFFF (80-8F next).
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return d !== undefined && d >= lo && d <= hi && isContinuation(b[j + 2]) && isContinuation(b[j + 3]) ? 4 : NOT_SURE;
  }
  return NOT_SURE;
}

/**
 * The index of the first stop (see stringStops) at or after b[j], read four bytes at a time
 * (`view` is the line's); or, where the line has less than a word left, of its first byte not
 * read yet, which may be a stop or not.
 */
function nextStop(b: Buffer, j: number): number {
  const n = b.length;
  while (j + 4 <= n) {
    const stops = stringStops(view.getUint32(viewBase + j, true));
    // The lowest flag's bit is 7, 15, 23 or 31: the stop is that many bytes on.
    if (stops !== 0) return j + ((31 - Math.clz32(stops & -stops)) >> 3);
    j += 4;
  }
  return j;
}

/**
 * `b[i]` opens a string: the index after its closing quote, or NOT_SURE (a raw control
 * character, no end, not UTF-8). Short strings cost a word or two. Kept small for V8 to inline:
 * a stop other than the closing quote goes on in stringEndFrom.
 */
function stringEnd(b: Buffer, i: number): number {
  if (i >= b.length || b[i] !== QUOTE) return NOT_SURE;
  const j = nextStop(b, i + 1);
  if (b[j] !== QUOTE) return stringEndFrom(b, i, j);
  stringStart = i;
  stringEscaped = false;
  return j + 1;
}

/** stringEnd from b[j] on, where an escape, a byte above 0x7f, a control character or the line's last bytes are. */
function stringEndFrom(b: Buffer, i: number, j: number): number {
  const n = b.length;
  let escaped = false;
  for (;;) {
    j = nextStop(b, j);
    if (j >= n) return NOT_SURE;
    const c = b[j]!;
    if (IN_STRING[c] === 1) {
      j++;
      continue;
    }
    if (c === QUOTE) {
      stringStart = i;
      stringEscaped = escaped;
      return j + 1;
    }
    if (c >= 0x80) {
      const length = utf8Length(b, j);
      if (length === NOT_SURE || j + length > n) return NOT_SURE;
      j += length;
      continue;
    }
    if (c !== BACKSLASH) return NOT_SURE;
    escaped = true;
    j += 2;
  }
}

/** The string in b[a, e) (quotes included) as JSON.parse gives it; undefined for an invalid escape. */
function stringValue(b: Buffer, a: number, e: number, escaped: boolean): string | undefined {
  if (!escaped) return text(b, a + 1, e - 1);
  try {
    return JSON.parse(text(b, a, e)) as string;
  } catch {
    return undefined;
  }
}

const isDigit = (c: number | undefined) => c !== undefined && c >= ZERO && c <= NINE;

/** A plain integer (no sign, fraction or exponent; at most 15 digits) into `integer`; else NOT_SURE. */
function integerEnd(b: Buffer, i: number): number {
  const n = b.length;
  if (i >= n) return NOT_SURE;
  let c = b[i]!;
  if (c === ZERO) {
    integer = 0;
    i++;
  } else {
    if (!(c > ZERO && c <= NINE)) return NOT_SURE;
    const start = i;
    let v = 0;
    do {
      v = v * 10 + (c - ZERO);
      if (++i === n) break;
      c = b[i]!;
    } while (c >= ZERO && c <= NINE);
    if (i - start > EXACT_DIGITS) return NOT_SURE;
    integer = v;
  }
  if (i === n) return i;
  c = b[i]!;
  return c === DOT || c === LOWER_E || c === UPPER_E ? NOT_SURE : i;
}

/** Any JSON number: the index after it, or NOT_SURE when the text there is not one. */
function numberEnd(b: Buffer, i: number): number {
  if (b[i] === MINUS) i++;
  if (b[i] === ZERO) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return NOT_SURE;
  if (b[i] === DOT) {
    if (!isDigit(b[++i])) return NOT_SURE;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === LOWER_E || b[i] === UPPER_E) {
    i++;
    if (b[i] === PLUS || b[i] === MINUS) i++;
    if (!isDigit(b[i])) return NOT_SURE;
    while (isDigit(b[i])) i++;
  }
  return i;
}

/** Whether b[i, i + word.length) holds `word`. */
function bytesAt(b: Buffer, i: number, word: Uint8Array): boolean {
  const n = word.length;
  if (i + n > b.length) return false;
  for (let k = 0; k < n; k++) if (b[i + k] !== word[k]) return false;
  return true;
}

/** The index after `word` when b[i, ...) starts with it, else NOT_SURE. */
const wordEnd = (b: Buffer, i: number, word: Uint8Array): number => (bytesAt(b, i, word) ? i + word.length : NOT_SURE);

/**
 * Dotted IPv4 in [a, e) as net.isIP accepts it (four parts of 0-255, no leading zeros). False
 * says only "not this form": the caller asks net.isIP then.
 */
function isPlainIPv4(b: Buffer, a: number, e: number): boolean {
  let parts = 0;
  let i = a;
  while (i < e) {
    const start = i;
    let v = 0;
    let c = b[i]!;
    while (i < e && c >= ZERO && c <= NINE && i - start < 3) {
      v = v * 10 + (c - ZERO);
      c = b[++i]!;
    }
    const digits = i - start;
    if (digits === 0 || v > 255 || (digits > 1 && b[start] === ZERO)) return false;
    if (++parts === 4) return i === e;
    if (i >= e || c !== DOT) return false;
    i++;
  }
  return false;
}

const isHexDigit = (c: number | undefined) => c !== undefined && ((c >= ZERO && c <= NINE) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66));

/**
 * IPv6 in [a, e) written plainly, as net.isIP accepts it: groups of one to four hex digits,
 * eight of them, or at most seven around one "::". False says only "not this form" (an
 * embedded IPv4 address or a zone, say): the caller asks net.isIP then.
 */
export function isPlainIPv6(b: Uint8Array, a: number, e: number): boolean {
  let groups = 0;
  let compressed = false;
  let i = a;
  if (b[i] === COLON) {
    if (b[i + 1] !== COLON) return false;
    compressed = true;
    i += 2;
    if (i === e) return true;
  }
  for (;;) {
    const start = i;
    while (i < e && i - start < 5 && isHexDigit(b[i])) i++;
    if (i === start || i - start > 4) return false;
    groups++;
    if (i === e) break;
    if (b[i] !== COLON) return false;
    i++;
    if (i < e && b[i] === COLON) {
      if (compressed) return false;
      compressed = true;
      i++;
      if (i === e) break;
    } else if (i === e) return false;
  }
  return compressed ? groups <= 7 : groups === 8;
}

// A scalar field's check, as data: one function switches on the type, so the object loop calls
// it directly (a call V8 can inline) rather than through a closure per field.
const KEYWORD = 0;
const IP = 1;
const LONG = 2;
const DOUBLE = 3;
const BOOLEAN = 4;
const DATE = 5;

interface Scalar {
  readonly type: number;
  readonly pattern: RegExp | null;
  readonly min: number;
  readonly max: number;
  /** A date field's last text and time. */
  readonly times: TimeMemo | null;
}

/**
 * agentTimeAt remembered for the last text: a batch's documents mostly share their times, and
 * comparing the bytes costs less than reading the digits again.
 */
class TimeMemo {
  private readonly bytes = new Uint8Array(24);
  private length = -1;
  private ms = NaN;

  at(b: Uint8Array, a: number, e: number): number {
    const n = e - a;
    const bytes = this.bytes;
    if (n === this.length) {
      let k = 0;
      while (k < n && bytes[k] === b[a + k]) k++;
      if (k === n) return this.ms;
    }
    this.ms = agentTimeAt(b, a, e);
    if (n <= bytes.length) {
      for (let k = 0; k < n; k++) bytes[k] = b[a + k]!;
      this.length = n;
    } else this.length = -1;
    return this.ms;
  }
}

function scalarOf(spec: FieldSpec): Scalar {
  const type = { keyword: KEYWORD, ip: IP, long: LONG, double: DOUBLE, boolean: BOOLEAN, date: DATE, object: -1, flattened: -1 }[spec.type];
  if (type < 0) throw new Error(`schema: ${spec.type} is not a scalar`);
  return { type, pattern: spec.pattern ?? null, min: spec.min ?? -Infinity, max: spec.max ?? Infinity, times: type === DATE ? new TimeMemo() : null };
}

/**
 * Checks one scalar value as validate.ts does: the index after it, or NOT_SURE. What agents
 * write is checked here, in a function small enough to be inlined where it is called; the rest
 * (escapes, other forms) in scalarEndSlow.
 */
function scalarEnd(s: Scalar, b: Buffer, i: number): number {
  const type = s.type;
  if (type === LONG) {
    const end = integerEnd(b, i);
    return end !== NOT_SURE && integer >= s.min && integer <= s.max ? end : NOT_SURE;
  }
  if (b[i] !== QUOTE || type > DATE || type === DOUBLE || type === BOOLEAN) return scalarEndSlow(s, b, i);
  const end = stringEnd(b, i);
  if (end === NOT_SURE) return NOT_SURE;
  if (stringEscaped) return scalarEndSlow(s, b, i);
  if (type === KEYWORD) return s.pattern === null || s.pattern.test(text(b, i + 1, end - 1)) ? end : NOT_SURE;
  if (type === IP) return isPlainIPv4(b, i + 1, end - 1) || isPlainIPv6(b, i + 1, end - 1) ? end : scalarEndSlow(s, b, i);
  // DATE: the agents' form is a date without more ado (what isDate would find, read in place).
  return Number.isNaN(s.times!.at(b, i + 1, end - 1)) ? scalarEndSlow(s, b, i) : end;
}

function scalarEndSlow(s: Scalar, b: Buffer, i: number): number {
  switch (s.type) {
    case KEYWORD: {
      const end = stringEnd(b, i);
      if (end === NOT_SURE) return end;
      const v = stringValue(b, i, end, stringEscaped);
      return v !== undefined && (s.pattern === null || s.pattern.test(v)) ? end : NOT_SURE;
    }
    case IP: {
      const end = stringEnd(b, i);
      if (end === NOT_SURE) return end;
      const v = stringValue(b, i, end, stringEscaped);
      return v !== undefined && isIP(v) !== 0 ? end : NOT_SURE;
    }
    case DOUBLE: {
      const end = numberEnd(b, i);
      if (end === NOT_SURE) return end;
      const v = Number(text(b, i, end));
      return Number.isFinite(v) && v >= s.min && v <= s.max ? end : NOT_SURE;
    }
    case BOOLEAN:
      return b[i] === TRUE[0] ? wordEnd(b, i, TRUE) : wordEnd(b, i, FALSE);
    case DATE: {
      if (b[i] !== QUOTE) return integerEnd(b, i);
      const end = stringEnd(b, i);
      if (end === NOT_SURE) return end;
      const v = stringValue(b, i, end, stringEscaped);
      return v !== undefined && isDate(v) ? end : NOT_SURE;
    }
    default:
      return NOT_SURE;
  }
}

function compileScalar(spec: FieldSpec): ValueScan {
  const scalar = scalarOf(spec);
  return (b, i) => scalarEnd(scalar, b, i);
}

/** What one field of an object holds for the contract, from the key paths and the id recipe. */
interface PathNode {
  /** Its value goes into the cut-down document. */
  keep: boolean;
  /** The id parts (their slots) whose text is its value. */
  slots: number[];
  /** Paths go on through it (an object). */
  below: PathTree | null;
}
type PathTree = Map<string, PathNode>;

function nodeAt(root: PathTree, path: string): PathNode {
  let level = root;
  let node: PathNode | undefined;
  for (const name of path.split('.')) {
    if (node) level = node.below ??= new Map();
    node = level.get(name);
    if (!node) level.set(name, (node = { keep: false, slots: [], below: null }));
  }
  return node!;
}

/** Where the values of the id parts were in the line: a slot per path of each part. */
interface IdSlots {
  start: Int32Array;
  end: Int32Array;
  /** The text there is the value's JSON as JSON.stringify writes it. */
  plain: Uint8Array;
}

/** Scans an object of the table's fields; puts the key values into `into`. */
type ObjectScan = (b: Buffer, i: number, into: Record<string, unknown>) => number;

interface Field {
  readonly name: string;
  /** The key as written without escapes or spaces, `"name":`, to compare in place. */
  readonly key: Buffer;
  /** The key's bytes four at a time (little-endian): see keyWords. */
  readonly keyWords: Uint32Array;
  /** Position in the table, for the duplicate check. */
  readonly slot: number;
  readonly required: boolean;
  /** A single scalar's check; else `scan` checks the value. */
  readonly scalar: Scalar | null;
  readonly scan: ValueScan;
  /** Its whole value is a key value. */
  readonly keep: boolean;
  /** The id slots its text fills. */
  readonly idSlots: readonly number[];
  /** keep, or id slots: its value's text is wanted. */
  readonly wanted: boolean;
  /** An object that key paths or id parts go on through. */
  readonly inner: ObjectScan | null;
  /** The field that followed this one last time: agents write fields in one order. */
  next: Field | null;
  /** The one that followed it the time before, when that was another (an optional field between). */
  nextBut: Field | null;
  /** The string value this field kept last, and its bytes (see keptText). */
  lastText: string;
  readonly lastBytes: Buffer;
  lastLength: number;
}

/**
 * Whether the value just scanned in [a, e) is written as JSON.stringify writes its value: a
 * string without escapes (the string scanned last, when it started at `a`: there can be no
 * quote, backslash or control character in it, and valid UTF-8 holds no lone surrogate), a
 * plain integer, true or false.
 */
function isPlain(b: Buffer, a: number, e: number): boolean {
  if (stringStart === a) return !stringEscaped;
  if (integerEnd(b, a) === e) return true;
  return wordEnd(b, a, TRUE) === e || wordEnd(b, a, FALSE) === e;
}

/**
 * The plain string in [a, e) (quotes included), the same string as the field's last when the
 * bytes are: a batch's documents mostly share their times, and decoding costs more than comparing.
 */
function keptText(field: Field, b: Buffer, a: number, e: number): string {
  const n = e - a - 2;
  const last = field.lastBytes;
  if (n === field.lastLength) {
    let k = 0;
    while (k < n && last[k] === b[a + 1 + k]) k++;
    if (k === n) return field.lastText;
  }
  field.lastText = text(b, a + 1, e - 1);
  if (n <= last.length) {
    b.copy(last, 0, a + 1, e - 1);
    field.lastLength = n;
  } else field.lastLength = -1;
  return field.lastText;
}

/** The value in [a, e) of the field as JSON.parse gives it (parsing only what is not plain). */
function valueOf(field: Field, b: Buffer, a: number, e: number, plain: boolean): unknown {
  if (!plain) return JSON.parse(text(b, a, e));
  const c = b[a];
  if (c === QUOTE) return keptText(field, b, a, e);
  if (c === TRUE[0] || c === FALSE[0]) return c === TRUE[0];
  integerEnd(b, a);
  return integer;
}

/**
 * A key's bytes as little-endian 32-bit words: its whole words, then (when its length is not a
 * multiple of four) the word of its last four bytes, which overlaps the one before. A key as
 * written, `"x":`, is at least four bytes.
 */
function keyWords(key: Buffer): Uint32Array {
  const whole = key.length >> 2;
  const words = new Uint32Array(whole + (key.length & 3 ? 1 : 0));
  for (let w = 0; w < whole; w++) words[w] = key.readUInt32LE(w * 4);
  if (words.length > whole) words[whole] = key.readUInt32LE(key.length - 4);
  return words;
}

/** The index after the field's key when b[i, ...) starts with it, else NOT_SURE. */
function keyEnd(b: Buffer, i: number, field: Field): number {
  const n = field.key.length;
  if (i + n > b.length) return NOT_SURE;
  const words = field.keyWords;
  const at = viewBase + i;
  const last = words.length - 1;
  for (let w = 0; w < last; w++) if (view.getUint32(at + w * 4, true) !== words[w]) return NOT_SURE;
  return view.getUint32(at + n - 4, true) === words[last] ? i + n : NOT_SURE;
}

/** `b[i]` opens an object: scans the table's fields, checked as compileObject in validate.ts does. */
function compileObject(table: FieldTable, paths: PathTree | null, ids: IdSlots): ObjectScan {
  const byName = new Map<string, Field>();
  let required = 0;
  for (const [name, spec] of Object.entries(table)) {
    const node = paths?.get(name);
    if (node?.below && (spec.type !== 'object' || spec.array || node.keep || node.slots.length)) {
      throw new Error(`schema: a key path or id part goes through "${name}", which is not an object, or ends there too`);
    }
    byName.set(name, {
      name,
      key: Buffer.from(`${JSON.stringify(name)}:`),
      keyWords: keyWords(Buffer.from(`${JSON.stringify(name)}:`)),
      slot: byName.size,
      required: spec.required === true,
      scalar: spec.array || spec.type === 'object' || spec.type === 'flattened' ? null : scalarOf(spec),
      scan: compileField(spec),
      keep: node?.keep ?? false,
      idSlots: node?.slots ?? [],
      wanted: Boolean(node?.keep || node?.slots.length),
      inner: node?.below ? compileObject(spec.fields ?? {}, node.below, ids) : null,
      next: null,
      nextBut: null,
      lastText: '',
      lastBytes: Buffer.alloc(node?.keep ? 64 : 0),
      lastLength: -1,
    });
    if (spec.required) required++;
  }
  for (const name of paths?.keys() ?? []) if (!byName.has(name)) throw new Error(`schema: the key path or id part "${name}" names no field`);
  // Which fields this object had, stamped with the number of the scan: a field seen twice is a
  // duplicate key, which JSON.parse resolves (the last wins) and the full path judges.
  const seen = new Uint32Array(byName.size);
  let scanNo = 0;
  let first: Field | null = null;

  // The field whose key starts at b[i] (a quote), looked up by name when it is not the one
  // expected; and where its value starts, after the colon.
  let found: Field | undefined;
  const fieldAt = (b: Buffer, i: number): number => {
    const end = stringEnd(b, i);
    if (end === NOT_SURE || stringEscaped || !(found = byName.get(text(b, i + 1, end - 1)))) return NOT_SURE;
    i = skipSpace(b, end);
    return b[i] === COLON ? skipSpace(b, i + 1) : NOT_SURE;
  };

  return (b, i, into) => {
    if (b[i] !== OPEN_OBJECT) return NOT_SURE;
    if (++scanNo === 0xffffffff) {
      seen.fill(0);
      scanNo = 1;
    }
    let requiredSeen = 0;
    i = skipSpace(b, i + 1);
    if (b[i] === CLOSE_OBJECT) return required === 0 ? i + 1 : NOT_SURE;
    let previous: Field | null = null;
    for (;;) {
      const expected = previous === null ? first : previous.next;
      let field: Field;
      let a = expected === null ? NOT_SURE : keyEnd(b, i, expected);
      if (a !== NOT_SURE) {
        field = expected!;
        if (b[a]! <= 0x20) a = skipSpace(b, a);
      } else if (previous !== null && previous.nextBut !== null && (a = keyEnd(b, i, previous.nextBut)) !== NOT_SURE) {
        field = previous.nextBut;
        if (b[a]! <= 0x20) a = skipSpace(b, a);
      } else {
        if (b[i] !== QUOTE) return NOT_SURE;
        a = fieldAt(b, i);
        if (a === NOT_SURE) return NOT_SURE;
        field = found!;
      }
      if (seen[field.slot] === scanNo) return NOT_SURE;
      seen[field.slot] = scanNo;
      if (previous === null) {
        if (first !== field) first = field;
      } else if (previous.next !== field) {
        previous.nextBut = previous.next;
        previous.next = field;
      }
      previous = field;
      if (b[a] === LOWER_N && bytesAt(b, a, NULL)) {
        // As the validator: a null is no value (and no required field); for an id, no part.
        i = a + NULL.length;
        if (field.keep || field.inner) into[field.name] = null;
      } else {
        if (field.inner !== null) {
          const below: Record<string, unknown> = {};
          into[field.name] = below;
          i = field.inner(b, a, below);
        } else i = field.scalar !== null ? scalarEnd(field.scalar, b, a) : field.scan(b, a);
        if (i === NOT_SURE) return NOT_SURE;
        if (field.required) requiredSeen++;
        if (field.wanted) {
          const plain = isPlain(b, a, i);
          if (field.keep) into[field.name] = valueOf(field, b, a, i, plain);
          for (const slot of field.idSlots) {
            ids.start[slot] = a;
            ids.end[slot] = i;
            ids.plain[slot] = plain ? 1 : 0;
          }
        }
      }
      if (b[i]! <= 0x20) i = skipSpace(b, i);
      const c = b[i];
      if (c === COMMA) {
        if (b[++i]! <= 0x20) i = skipSpace(b, i);
      } else if (c === CLOSE_OBJECT) return requiredSeen === required ? i + 1 : NOT_SURE;
      else return NOT_SURE;
    }
  };
}

/**
 * The items of an array or object whose opener is at b[i - 1], up to its closer: `item` scans
 * one (at most `max` of them); the index after the closer, or NOT_SURE.
 */
function listEnd(b: Buffer, i: number, close: number, max: number, item: ValueScan): number {
  i = skipSpace(b, i);
  if (b[i] === close) return i + 1;
  for (let n = 1; n <= max; n++) {
    i = item(b, i);
    if (i === NOT_SURE) return NOT_SURE;
    i = skipSpace(b, i);
    const c = b[i];
    if (c === close) return i + 1;
    if (c !== COMMA) return NOT_SURE;
    i = skipSpace(b, i + 1);
  }
  return NOT_SURE;
}

/** A map of string keys to string values, within the validator's limits. */
function compileFlattened(spec: FieldSpec): ValueScan {
  const maxKey = spec.ignoreAbove ?? 1024;
  const string = scalarOf({ type: 'keyword', description: '' });
  // A key's bytes are at least as many as its UTF-16 characters, so a key within the limit in
  // bytes is within it.
  const pair: ValueScan = (b, i) => {
    const keyEnd = stringEnd(b, i);
    if (keyEnd === NOT_SURE || stringEscaped || keyEnd - i - 2 > maxKey) return NOT_SURE;
    i = skipSpace(b, keyEnd);
    return b[i] === COLON ? scalarEnd(string, b, skipSpace(b, i + 1)) : NOT_SURE;
  };
  // Keys are counted as written: duplicates count twice here and once in the validator, so a
  // count over the limit is "not sure", never a verdict.
  return (b, i) => (b[i] === OPEN_OBJECT ? listEnd(b, i + 1, CLOSE_OBJECT, FLATTENED_MAX_KEYS, pair) : NOT_SURE);
}

function compileArray(element: ValueScan): ValueScan {
  return (b, i) => (b[i] === OPEN_ARRAY ? listEnd(b, i + 1, CLOSE_ARRAY, Infinity, element) : NOT_SURE);
}

/** Objects below a field that no key path or id part enters: checked, nothing taken out. */
const NO_IDS: IdSlots = { start: new Int32Array(0), end: new Int32Array(0), plain: new Uint8Array(0) };

function compileField(spec: FieldSpec): ValueScan {
  if (spec.type === 'flattened') return compileFlattened(spec);
  let one: ValueScan;
  if (spec.type === 'object') {
    const inner = compileObject(spec.fields ?? {}, null, NO_IDS);
    const ignored: Record<string, unknown> = {};
    one = (b, i) => inner(b, i, ignored);
  } else one = compileScalar(spec);
  return spec.array ? compileArray(one) : one;
}

// The JSON text of a document's id parts, rebuilt for each document.
let idText = Buffer.allocUnsafe(4096);
const NULL_TEXT = NULL;
/** Views of idText from its start, by length: hashing a view made once costs no typed array per document. */
let idTextViews: Buffer[] = [];
/** idText four bytes at a time, to copy parts into it. */
let idTextWords = new DataView(idText.buffer, idText.byteOffset, idText.length);

function idTextRoom(used: number, more: number): void {
  if (used + more <= idText.length) return;
  const grown = Buffer.allocUnsafe(Math.max(idText.length * 2, used + more));
  idText.copy(grown, 0, 0, used);
  idText = grown;
  idTextViews = [];
  idTextWords = new DataView(idText.buffer, idText.byteOffset, idText.length);
}

/** Id texts longer than this are rare (very long values): their views are not kept, so no sender can make many. */
const KEPT_VIEW_LENGTH = 4096;

/** idText[0, length). */
function idTextView(length: number): Buffer {
  if (length > KEPT_VIEW_LENGTH) return idText.subarray(0, length);
  return (idTextViews[length] ??= idText.subarray(0, length));
}

// A batch comes from one node: the node part's text is decoded again only when its bytes change
// (the same string then also lets idOfPartsJson skip its own comparison).
let lastNodeBytes = Buffer.alloc(256);
let lastNodeLength = -1;
let lastNodeText = '';

/** The text of idText[start, end) (the node part), the same string as last time when the bytes are. */
function nodeText(start: number, end: number): string {
  const n = end - start;
  if (n === lastNodeLength) {
    let k = 0;
    while (k < n && lastNodeBytes[k] === idText[start + k]) k++;
    if (k === n) return lastNodeText;
  }
  if (n > lastNodeBytes.length) lastNodeBytes = Buffer.alloc(Math.max(n, lastNodeBytes.length * 2));
  idText.copy(lastNodeBytes, 0, start, end);
  lastNodeLength = n;
  lastNodeText = idText.toString('utf8', start, end);
  return lastNodeText;
}

/** A scanner for documents of `table` that takes out what `spec` asks for; it declines a line that is not UTF-8. */
export function compileScanner(table: FieldTable, spec: ScannerSpec): Scanner {
  const paths: PathTree = new Map();
  for (const key of spec.keys) nodeAt(paths, key).keep = true;
  // Each part of the id has a slot per path it may take; parts[k] lists part k's, in order.
  const parts: number[][] = [];
  let slotCount = 0;
  for (const part of spec.id) {
    const slots: number[] = [];
    for (const path of typeof part === 'string' ? [part] : part) {
      nodeAt(paths, path).slots.push(slotCount);
      slots.push(slotCount++);
    }
    parts.push(slots);
  }
  const ids: IdSlots = { start: new Int32Array(slotCount), end: new Int32Array(slotCount), plain: new Uint8Array(slotCount) };
  const idTimes = new TimeMemo();
  const top = compileObject(table, paths, ids);

  /** The id of the parts' values, their JSON.stringify written from their text. */
  const idOfText = (b: Buffer): string => {
    // Plain parts are their text, so the line's length (with commas and nulls) bounds the whole.
    idTextRoom(0, b.length + parts.length * (NULL_TEXT.length + 1) + 2);
    const out = idText;
    let at = 0;
    let nodeEnd = 0;
    let timeStart = 0;
    let timeEnd = 0;
    out[at++] = OPEN_ARRAY;
    for (let k = 0; k < parts.length; k++) {
      if (k > 0) out[at++] = COMMA;
      if (k === 1) timeStart = at;
      const alternatives = parts[k]!;
      let slot = alternatives[0]!;
      for (let j = 1; ids.start[slot]! < 0 && j < alternatives.length; j++) slot = alternatives[j]!;
      const start = ids.start[slot]!;
      if (start < 0) {
        for (let j = 0; j < NULL_TEXT.length; j++) out[at++] = NULL_TEXT[j]!;
      } else if (ids.plain[slot]) {
        const end = ids.end[slot]!;
        // Four bytes at a time, from the line's view (a native copy costs more in its call).
        let j = start;
        for (; j + 4 <= end; j += 4, at += 4) idTextWords.setUint32(at, view.getUint32(viewBase + j, true), true);
        for (; j < end; j++) out[at++] = b[j]!;
      } else return idWithParsed(b);
      if (k === 0) nodeEnd = at;
      else if (k === 1) timeEnd = at;
    }
    out[at++] = CLOSE_ARRAY;
    // The time is the agents' form inside its quotes, or read as the parsed path reads it.
    let time = out[timeStart] === QUOTE ? idTimes.at(out, timeStart + 1, timeEnd - 1) : NaN;
    if (Number.isNaN(time)) time = partTime(JSON.parse(out.toString('utf8', timeStart, timeEnd)));
    return idOfPartsJson(idTextView(at), nodeText(1, nodeEnd), time);
  };

  /** The id when a part is not plain: that part parsed and written again by JSON.stringify. */
  const idWithParsed = (b: Buffer): string => {
    const texts = parts.map((alternatives) => {
      const slot = alternatives.find((s) => ids.start[s]! >= 0);
      if (slot === undefined) return 'null';
      const raw = text(b, ids.start[slot]!, ids.end[slot]!);
      return ids.plain[slot] ? raw : JSON.stringify(JSON.parse(raw));
    });
    return idOfPartsJson(Buffer.from(`[${texts.join(',')}]`), texts[0]!, partTime(JSON.parse(texts[1] ?? 'null')));
  };

  return (bytes) => {
    stringStart = -1;
    if (view.buffer !== bytes.buffer) view = new DataView(bytes.buffer);
    viewBase = bytes.byteOffset;
    // A loop: fill() is a call into the runtime, dear for a few slots.
    for (let k = 0; k < ids.start.length; k++) ids.start[k] = -1;
    try {
      const keys: Record<string, unknown> = {};
      const end = top(bytes, skipSpace(bytes, 0), keys);
      if (end === NOT_SURE || skipSpace(bytes, end) !== bytes.length) return null;
      if (spec.refine?.(keys)) return null;
      return { keys, id: idOfText(bytes) };
    } catch {
      // Nothing the scanner accepted fails to parse, but a doubt is the full path's to settle.
      return null;
    }
  };
}
