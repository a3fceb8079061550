// V8 keeps a string made by concatenation as a tree of its pieces (a cons string), and a long
// substring as a view into the string it was cut from (a sliced string), until something copies
// it. JSON.stringify's fast path (Node.js 26) writes sequential strings only: one cons or sliced
// value anywhere in a document sends the whole document down the general path, which took 2.5
// times as long on agent flow logs. Strings that go into many documents (pod names and labels,
// container ids, process keys) are made sequential here, once, where they are cached.

/** V8 copies strings shorter than this when it makes them, so they are never cons or sliced. */
const SHORT = 13;
const scratch = Buffer.allocUnsafeSlow(16 * 1024);
/** Any character above Latin-1. */
const NOT_LATIN1 = /[^\x00-\xff]/;
/** A surrogate without its pair (with the u flag, a pair is one code point and does not match). */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/** `s` as a sequential string: the same characters, copied through bytes where it could be a tree or a view. */
export function flatString(s: string): string {
  if (s.length < SHORT) return s;
  if (!NOT_LATIN1.test(s)) {
    if (s.length <= scratch.length) return scratch.toString('latin1', 0, scratch.write(s, 0, 'latin1'));
    return Buffer.from(s, 'latin1').toString('latin1');
  }
  // UTF-8 is lossless for well-formed text; a lone surrogate keeps its string as it is.
  if (LONE_SURROGATE.test(s)) return s;
  return Buffer.from(s, 'utf8').toString('utf8');
}
