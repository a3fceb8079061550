// Files that may be replaced while a service runs (rotated tokens, renewed certificates): read
// once at start, where a missing file is a configuration error, then re-read whenever a cheap
// stat shows a change. Kubernetes updates mounted Secrets by swapping a symlink, which
// inotify-based watches miss, so this polls; the poll timer never keeps the process alive.
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from './errors.js';

export interface WatchedFile {
  /** The latest contents that parsed. */
  readonly current: Buffer;
  stop(): void;
}

export interface WatchOptions {
  /** What the file is, for messages ("token file"). */
  what: string;
  /** The flag that names it, for messages ("--token-file"). */
  flag: string;
  /** How often to stat it (ms). */
  intervalMs?: number;
  /** Called with the new contents; throw to keep the previous ones (the error is reported). */
  onChange?: (contents: Buffer) => void;
  /** Told when a changed file cannot be read or is refused by onChange; the old contents stay. */
  onError?: (err: Error) => void;
}

const signature = (path: string): string => {
  const s = statSync(path);
  return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
};

/** Reads `path` now (throws ConfigError saying which flag when it cannot) and watches it. */
export function watchFile(path: string, o: WatchOptions): WatchedFile {
  let current: Buffer;
  let sig: string;
  try {
    sig = signature(path);
    current = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read the ${o.what} ${path} (${o.flag}): ${(err as Error).message}`, `give a readable file to ${o.flag}`);
  }
  o.onChange?.(current);
  const timer = setInterval(() => {
    try {
      const now = signature(path);
      if (now === sig) return;
      const contents = readFileSync(path);
      sig = now;
      if (contents.equals(current)) return;
      o.onChange?.(contents);
      current = contents;
    } catch (err) {
      o.onError?.(err as Error);
    }
  }, o.intervalMs ?? 2000);
  timer.unref();
  return {
    get current() {
      return current;
    },
    stop: () => clearInterval(timer),
  };
}

/** Tokens in a token file: one a line; blank lines and lines starting with # are ignored. */
export function parseTokens(contents: Buffer, source: string): string[] {
  const tokens = contents
    .toString('utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (tokens.length === 0) throw new ConfigError(`the token file ${source} holds no token`, 'write one token a line (lines starting with # are comments)');
  return tokens;
}
