// The JSON of a document whose parts other documents share, written as UTF-8 bytes. A process's
// record is named by its exec and its exit and, as the parent, by every child's exec and exit:
// made once and shared (agent/process/info-memo.ts), and with this, serialised once too instead
// of in every document. The bytes are those of JSON.stringify's text: the same keys in the same
// order, and anything this does not walk itself goes through JSON.stringify whole.
//
// Why bytes rather than a string: the agent holds an interval's documents as NDJSON bytes
// (held-lines.ts). A document's text built by concatenation is a tree of pieces that the write
// into bytes must first flatten into one more copy, and JSON.stringify called on each short value
// costs more than the value: on the exec workload that was most of the agent's time per
// document. Here short plain strings, integers and known keys go to the bytes directly.

/** Shared parts and their text ('' until first serialised). */
const texts = new WeakMap<object, string>();

/**
 * Marks `part` as one that several documents hold and nobody changes after this: its text is made
 * at its first serialisation and reused.
 */
export function shareJson(part: object): void {
  if (!texts.has(part)) texts.set(part, '');
}

/** Whether `part` was marked shared: nobody changes it any more, so what was found true of it stays true. */
export function isShared(part: object): boolean {
  return texts.has(part);
}

/** `"key":` in UTF-8 for keys seen, bounded: documents have a fixed set of field names. */
const KEY_BYTES = new Map<string, Buffer>();
const KEY_BYTES_MAX = 512;

function keyBytes(key: string): Buffer {
  let b = KEY_BYTES.get(key);
  if (b === undefined) {
    b = Buffer.from(`${JSON.stringify(key)}:`);
    if (KEY_BYTES.size < KEY_BYTES_MAX) KEY_BYTES.set(key, b);
  }
  return b;
}

/** A plain object JSON.stringify would write as its own keys (no toJSON, not an array or class instance). */
function isPlain(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

function isPlainArray(v: object): v is unknown[] {
  return Array.isArray(v) && Object.getPrototypeOf(v) === Array.prototype && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** Strings up to this long are checked and copied here; longer ones by JSON.stringify and one write. */
const COPIED_IN_JS = 128;
/** Levels walked here; deeper values (and cycles, which JSON.stringify rejects) go to JSON.stringify. */
const MAX_DEPTH = 16;
const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const QUOTE = 0x22;
/** Start size of a writer's buffer; it grows for a larger document, and shrinks back after. */
const START_BYTES = 64 * 1024;

/** A reusable buffer that documents are written into as JSON, one at a time. */
export class JsonBytes {
  buf: Buffer = Buffer.allocUnsafeSlow(START_BYTES);
  /** Bytes written since the last reset. */
  len = 0;

  /** Starts a new document (a buffer grown for a large one is let go). */
  reset(): void {
    if (this.buf.length > 16 * START_BYTES) this.buf = Buffer.allocUnsafeSlow(START_BYTES);
    this.len = 0;
  }

  /** The JSON of `doc`, as JSON.stringify(doc) would write it (which throws what it throws). */
  document(doc: object): void {
    if (!this.value(doc, 0)) throw new TypeError('a document must serialise to JSON (this one serialises to nothing)');
  }

  /** Writes `v`; false (and nothing written) where JSON.stringify leaves a property out. */
  private value(v: unknown, depth: number): boolean {
    switch (typeof v) {
      case 'string':
        this.string(v);
        return true;
      case 'number':
        this.number(v);
        return true;
      case 'boolean':
        this.bytes(v ? TRUE : FALSE);
        return true;
      case 'object':
        if (v === null) this.bytes(NULL);
        else return this.object(v, depth);
        return true;
      case 'bigint':
        // JSON.stringify's own error (or a BigInt.prototype.toJSON someone installed).
        return this.stringified(v);
      default:
        return false;
    }
  }

  private object(v: object, depth: number): boolean {
    const kept = texts.get(v);
    if (kept !== undefined) {
      if (kept) this.text(kept);
      else {
        const made = JSON.stringify(v);
        texts.set(v, made);
        this.text(made);
      }
      return true;
    }
    if (depth < MAX_DEPTH && isPlain(v)) {
      this.byte(0x7b);
      let first = true;
      for (const key of Object.keys(v)) {
        const at = this.len;
        if (!first) this.byte(0x2c);
        this.bytes(keyBytes(key));
        if (this.value(v[key], depth + 1)) first = false;
        else this.len = at;
      }
      this.byte(0x7d);
      return true;
    }
    if (depth < MAX_DEPTH && isPlainArray(v)) {
      this.byte(0x5b);
      for (let i = 0; i < v.length; i++) {
        if (i) this.byte(0x2c);
        if (!this.value(v[i], depth + 1)) this.bytes(NULL);
      }
      this.byte(0x5d);
      return true;
    }
    return this.stringified(v);
  }

  /** JSON.stringify's text of `v`, if it has one. */
  private stringified(v: unknown): boolean {
    const t = JSON.stringify(v) as string | undefined;
    if (t === undefined) return false;
    this.text(t);
    return true;
  }

  private string(s: string): void {
    const n = s.length;
    if (n > COPIED_IN_JS) return this.text(JSON.stringify(s));
    this.room(n + 2);
    const b = this.buf;
    let at = this.len;
    b[at++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // Control characters, quote and backslash are escaped, and other than ASCII is UTF-8.
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === 0x5c) return this.text(JSON.stringify(s));
      b[at++] = c;
    }
    b[at++] = QUOTE;
    this.len = at;
  }

  private number(v: number): void {
    // Integers of ids, pids and counters in digits here; any other through its own text.
    if (!(v >= 0 && v <= 0xffff_ffff && Math.floor(v) === v)) return this.text(Number.isFinite(v) ? String(v) : 'null');
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    this.room(digits);
    const b = this.buf;
    let at = this.len + digits;
    this.len = at;
    let x = v;
    do {
      b[--at] = 0x30 + (x % 10);
      x = Math.floor(x / 10);
    } while (x > 0);
  }

  /** A text that is JSON already, in UTF-8. */
  text(t: string): void {
    this.room(t.length * 3);
    this.len += this.buf.write(t, this.len);
  }

  private bytes(src: Buffer): void {
    this.room(src.length);
    this.buf.set(src, this.len);
    this.len += src.length;
  }

  private byte(c: number): void {
    this.room(1);
    this.buf[this.len++] = c;
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.len + n));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
}

const scratch = new JsonBytes();

/**
 * JSON.stringify(doc), with shared parts among its values and theirs (a process event's process and
 * parent records) written from their kept text.
 */
export function docJson(doc: object): string {
  scratch.reset();
  scratch.document(doc);
  return scratch.buf.toString('utf8', 0, scratch.len);
}
