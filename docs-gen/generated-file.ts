// The end of every generator here: write the file when it changed, or with --check say that it
// is out of date (exit 1) without touching it.
import { writeFileSync } from 'node:fs';

/** `path` rewritten to `wanted`, or, with --check in argv, an error when it differs from `current`. */
export function writeOrCheck(path: string, current: string, wanted: string, what: string, regenerate: string): void {
  if (wanted === current) return;
  if (process.argv.includes('--check')) {
    process.stderr.write(`${what} is out of date; run ${regenerate}\n`);
    process.exitCode = 1;
    return;
  }
  writeFileSync(path, wanted);
  process.stderr.write(`updated ${what}\n`);
}
