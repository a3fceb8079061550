// `npm run gen:layout` (node dist/native/btf/gen-layout.js [--check] [--object PATH]): reads the
// BTF of the compiled BPF object and writes native/layout.generated.ts (the TypeScript decoder's
// record layout, committed) and, next to the object, procflow.layout.h (the addon's compile-time
// checks, a build output). native/build.sh runs it right after compiling the object.
//
// --check writes the header but leaves the committed file alone, and exits 1 when it differs
// from what the object gives (CI, and test/unit/kernel-layout.test.ts, use that).
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../../common/errors.js';
import { LayoutError } from './errors.js';
import { recordsFromObject, type RecordsLayout } from './records.js';
import { renderCppChecks, renderTypeScript } from './render.js';

/** The repository (this file runs from dist/native/btf/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEFAULT_OBJECT = join(REPO_ROOT, 'bpf', 'build', 'procflow.bpf.o');
export const GENERATED_TS = join(REPO_ROOT, 'native', 'layout.generated.ts');
const BPF_SOURCES = join(REPO_ROOT, 'bpf');

export interface GeneratedLayout {
  layout: RecordsLayout;
  /** Contents of native/layout.generated.ts. */
  typescript: string;
  /** Contents of procflow.layout.h. */
  cppChecks: string;
}

/** Where the C++ checks go: beside the object, in the addon's include path (bpf/build). */
export const cppChecksPath = (object: string): string => join(dirname(object), 'procflow.layout.h');

/** The newest .c/.h under bpf/ (the build output folder left out), or undefined. */
function newestBpfSource(dir = BPF_SOURCES): { path: string; mtimeMs: number } | undefined {
  let best: { path: string; mtimeMs: number } | undefined;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    let found: { path: string; mtimeMs: number } | undefined;
    if (entry.isDirectory()) found = entry.name === 'build' ? undefined : newestBpfSource(path);
    else if (/\.[ch]$/.test(entry.name)) found = { path, mtimeMs: statSync(path).mtimeMs };
    if (found && (!best || found.mtimeMs > best.mtimeMs)) best = found;
  }
  return best;
}

/**
 * Fails unless `object` exists and is newer than every bpf/ source: a layout read from an
 * object that predates a header change would be the old one.
 */
export function assertObjectCurrent(object: string): void {
  const name = relative(REPO_ROOT, object);
  if (!existsSync(object)) {
    throw new LayoutError('LAYOUT_NO_OBJECT', `no BPF object at ${name}`,
      'build it with npm run build:kernel (needs clang; native/apt-packages.txt lists the packages)');
  }
  const newest = newestBpfSource();
  if (newest && newest.mtimeMs > statSync(object).mtimeMs) {
    throw new LayoutError('LAYOUT_STALE_OBJECT', `${name} is older than ${relative(REPO_ROOT, newest.path)}`,
      'rebuild it with npm run build:kernel (which also regenerates the layout)');
  }
}

/** Both generated files for `object`. */
export function generateLayout(object = DEFAULT_OBJECT): GeneratedLayout {
  const name = relative(REPO_ROOT, object);
  const layout = recordsFromObject(readFileSync(object), name);
  return { layout, typescript: renderTypeScript(layout, name), cppChecks: renderCppChecks(layout, name) };
}

/** Undefined when the committed file equals `wanted`, else the error that says what to run. */
export function committedLayoutError(wanted: string, object = DEFAULT_OBJECT): LayoutError | undefined {
  const current = existsSync(GENERATED_TS) ? readFileSync(GENERATED_TS, 'utf8') : '';
  if (current === wanted) return undefined;
  return new LayoutError('LAYOUT_OUT_OF_DATE',
    `${relative(REPO_ROOT, GENERATED_TS)} differs from the layout in the BTF of ${relative(REPO_ROOT, object)}`,
    'run npm run gen:layout and commit native/layout.generated.ts (bpf/procflow.h is its source)');
}

/** Write `text` to `path` unless it already holds it; true when written. */
function writeIfChanged(path: string, text: string): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return false;
  writeFileSync(path, text);
  return true;
}

function main(argv: string[]): number {
  const at = argv.indexOf('--object');
  const object = at >= 0 && argv[at + 1] ? resolve(argv[at + 1]!) : DEFAULT_OBJECT;
  const say = (line: string) => process.stderr.write(`gen:layout: ${line}\n`);
  try {
    assertObjectCurrent(object);
    const out = generateLayout(object);
    writeIfChanged(cppChecksPath(object), out.cppChecks);
    const ts = relative(REPO_ROOT, GENERATED_TS);
    const counts = `${out.layout.records.length} records, ${out.layout.constants.length} enums`;
    if (argv.includes('--check')) {
      const stale = committedLayoutError(out.typescript, object);
      if (stale) throw stale;
      say(`${ts} matches ${relative(REPO_ROOT, object)} (${counts})`);
    } else {
      say(writeIfChanged(GENERATED_TS, out.typescript) ? `wrote ${ts} (${counts}); commit it` : `${ts} up to date (${counts})`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n`);
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
