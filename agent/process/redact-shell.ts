// Splitting a shell command line (`sh -c "..."`) into words, so that the words can be redacted
// with the same rules as an argument list and the line put back together.
//
// This is not a shell parser: it knows quotes, backslashes and the characters that separate
// commands, which is all redaction needs. Words keep their position in the source so that only
// the words that changed are rewritten and the rest of the text stays exactly as it was.

/** How a word was written: all in one pair of quotes, without any quoting, or a mix. */
export type Quoting = 'none' | 'single' | 'double' | 'mixed';

export interface ShellWord {
  /** The word as the shell would pass it to a program (quotes and escapes removed). */
  value: string;
  /** Source span [start, end). */
  start: number;
  end: number;
  quoting: Quoting;
  /** The unquoted text before the first quote (`--header=` in `--header="Cookie: x"`), and that quote. */
  lead: string;
  quote: "'" | '"' | '';
}

/** Words grouped by command: `a b; c | d` is [[a, b], [c], [d]]. */
export type ShellCommands = ShellWord[][];

const isBlank = (c: string): boolean => c === ' ' || c === '\t' || c === '\r';
// Characters that end a command (or a word) when unquoted.
const isOperator = (c: string): boolean => c === ';' || c === '&' || c === '|' || c === '(' || c === ')' || c === '\n';
// Backslash keeps its meaning inside double quotes only before these.
const isDoubleQuoteEscapable = (c: string): boolean => c === '$' || c === '`' || c === '"' || c === '\\' || c === '\n';

/**
 * Words of a command line, grouped by command. One pass over the text; an unterminated quote
 * (a command line cut short by the kernel's argument limit) runs to the end.
 */
export function splitShell(s: string): ShellCommands {
  const commands: ShellCommands = [];
  let current: ShellWord[] = [];
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s[i]!;
    if (isBlank(c)) {
      i++;
      continue;
    }
    if (isOperator(c)) {
      if (current.length) commands.push(current);
      current = [];
      i++;
      continue;
    }
    const start = i;
    let value = '';
    let single = 0;
    let double = 0;
    let plain = 0;
    let escapes = 0;
    let lead = '';
    let quote: ShellWord['quote'] = '';
    while (i < n) {
      const ch = s[i]!;
      if (isBlank(ch) || isOperator(ch)) break;
      if ((ch === "'" || ch === '"') && !quote) {
        quote = ch;
        if (!escapes) lead = s.slice(start, i);
      }
      if (ch === "'") {
        const close = s.indexOf("'", i + 1);
        const stop = close < 0 ? n : close;
        value += s.slice(i + 1, stop);
        i = stop + 1;
        single++;
      } else if (ch === '"') {
        i++;
        let run = i;
        while (i < n && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < n && isDoubleQuoteEscapable(s[i + 1]!)) {
            value += s.slice(run, i);
            if (s[i + 1] !== '\n') value += s[i + 1];
            i += 2;
            run = i;
          } else {
            i++;
          }
        }
        value += s.slice(run, i);
        i++;
        double++;
      } else if (ch === '\\') {
        // Backslash-newline joins lines; any other escaped character is taken literally.
        if (i + 1 < n && s[i + 1] !== '\n') value += s[i + 1];
        i += 2;
        escapes++;
      } else {
        let j = i + 1;
        while (j < n) {
          const cj = s[j]!;
          if (isBlank(cj) || isOperator(cj) || cj === "'" || cj === '"' || cj === '\\') break;
          j++;
        }
        value += s.slice(i, j);
        i = j;
        plain++;
      }
    }
    const end = Math.min(i, n);
    let quoting: Quoting = 'mixed';
    if (single + double + escapes === 0) quoting = 'none';
    else if (plain + escapes === 0 && single + double === 1) quoting = single ? 'single' : 'double';
    current.push({ value, start, end, quoting, lead, quote });
  }
  if (current.length) commands.push(current);
  return commands;
}

// Characters that would change how a shell reads a word. `*` is left out on purpose: the mask
// (*****) is read by people, not run, and `-p*****` reads better than `'-p*****'`.
const NEEDS_QUOTES = /[\s'"`\\$;&|()<>]/;

const doubleQuoted = (v: string): string => `"${v.replace(/[\\"$`]/g, '\\$&')}"`;

const quotedWith = (v: string, q: string): string => (q === "'" && !v.includes("'") ? `'${v}'` : doubleQuoted(v));

/** Writes a redacted word back the way the original was written, where that still reads the same. */
export function quoteWord(value: string, word: ShellWord): string {
  if (word.quoting === 'single' || word.quoting === 'double') return quotedWith(value, word.quote);
  if (!NEEDS_QUOTES.test(value)) return value;
  // --header="Cookie: *****" rather than '--header=Cookie: *****'
  if (word.lead && value.startsWith(word.lead) && !NEEDS_QUOTES.test(word.lead)) {
    return word.lead + quotedWith(value.slice(word.lead.length), word.quote);
  }
  return quotedWith(value, word.quote || "'");
}

/** The source with some words replaced: `replaced` maps a word to its new text, in source order. */
export function rewriteShell(s: string, replaced: ReadonlyArray<readonly [ShellWord, string]>): string {
  let out = '';
  let at = 0;
  for (const [word, text] of replaced) {
    out += s.slice(at, word.start) + text;
    at = word.end;
  }
  return out + s.slice(at);
}
