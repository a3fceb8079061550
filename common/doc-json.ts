// The JSON text of a document whose parts other documents share. A process's record is named by
// its exec and its exit and, as the parent, by every child's exec and exit: made once and shared
// (agent/process/info-memo.ts), and with this, serialised once too instead of in every document.
// The text is JSON.stringify's, byte for byte: the same keys in the same order, and anything
// this does not walk itself goes through JSON.stringify whole.

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

/** `"key":` of keys seen, bounded: documents have a fixed set of field names. */
const KEY_TEXTS = new Map<string, string>();
const KEY_TEXTS_MAX = 512;

function keyText(key: string): string {
  let t = KEY_TEXTS.get(key);
  if (t === undefined) {
    t = `${JSON.stringify(key)}:`;
    if (KEY_TEXTS.size < KEY_TEXTS_MAX) KEY_TEXTS.set(key, t);
  }
  return t;
}

/** A plain object JSON.stringify would write as its own keys (no toJSON, not an array or class instance). */
function isPlain(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** JSON of `v`, or undefined where JSON.stringify leaves a property out (undefined, functions, symbols). */
function valueJson(v: unknown, depth: number): string | undefined {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v) as string | undefined;
  const kept = texts.get(v);
  if (kept !== undefined) {
    if (kept) return kept;
    const made = JSON.stringify(v);
    texts.set(v, made);
    return made;
  }
  return depth > 0 && isPlain(v) ? objectJson(v, depth - 1) : JSON.stringify(v);
}

function objectJson(o: Record<string, unknown>, depth: number): string {
  let out = '{';
  for (const key of Object.keys(o)) {
    const text = valueJson(o[key], depth);
    if (text === undefined) continue;
    out += out.length === 1 ? `${keyText(key)}${text}` : `,${keyText(key)}${text}`;
  }
  return `${out}}`;
}

/**
 * JSON.stringify(doc), with shared parts among its values and theirs (a process event's process and
 * parent records) written from their kept text.
 */
export function docJson(doc: object): string {
  return isPlain(doc) ? objectJson(doc, 1) : JSON.stringify(doc);
}
