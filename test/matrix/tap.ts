// Counts of a node --test TAP report: passed, failed, not applicable (a skip whose reason starts
// with "not applicable", which the kernel tests print for what a kernel cannot have), other
// skips, and the names of the failures ("suite > test"). Suites are not counted as tests, but a
// suite that failed by itself (a hook, not its subtests) is a failure; so is a test file that
// crashed before reporting any test (node reports it as a test named after the file). A failure
// carries the first lines of its error, so a CI log says why without the guest's files.

export interface TapSummary {
  passed: number;
  failed: number;
  notApplicable: number;
  skipped: number;
  /** "suite > test", then the first lines of its error (and expected/actual), one per line. */
  failures: string[];
  /** Distinct reasons of the not-applicable skips. */
  notApplicableReasons: string[];
}

const POINT = /^( *)(ok|not ok) \d+ - (.*)$/;
const SUBTEST = /^( *)# Subtest: (.*)$/;
// A directive starts at the first " # " that node did not escape as "\#".
const DIRECTIVE = /^(.*?)(?<!\\) # (SKIP|TODO)\b ?(.*)$/i;

/** Lines of a failure's error (and expected/actual) the summary keeps. */
const ERROR_LINES = 8;

const unescape = (s: string) => s.replace(/\\#/g, '#').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');

export function parseTap(tap: string): TapSummary {
  const out: TapSummary = { passed: 0, failed: 0, notApplicable: 0, skipped: 0, failures: [], notApplicableReasons: [] };
  const lines = tap.split('\n');
  const path: string[] = [];
  // failedWithin[d]: a test failed inside the subtest open at depth d (so its suite's own
  // failure, e.g. a before() hook that cancelled them, is not counted twice).
  const failedWithin: boolean[] = [];
  const reasons = new Set<string>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const sub = SUBTEST.exec(line);
    if (sub) {
      const depth = sub[1]!.length / 4;
      path.length = depth;
      path[depth] = unescape(sub[2]!);
      continue;
    }
    const point = POINT.exec(line);
    if (!point) continue;
    const depth = point[1]!.length / 4;
    const directive = DIRECTIVE.exec(point[3]!);
    const name = unescape(directive ? directive[1]! : point[3]!);
    // The YAML block right after the test point says whether this was a suite and why it failed.
    let isSuite = false;
    let failureType = '';
    const why: string[] = [];
    if (lines[i + 1]?.trim() === '---') {
      const indent = point[1]!.length + 2;
      for (let j = i + 2; j < lines.length && lines[j]!.trim() !== '...'; j++) {
        const t = lines[j]!.trim();
        if (t === "type: 'suite'") isSuite = true;
        const f = /^failureType: '(.*)'$/.exec(t);
        if (f) failureType = f[1]!;
        const field = /^(error|expected|actual): ?(.*)$/.exec(t);
        if (field && lines[j]!.length - lines[j]!.trimStart().length === indent) {
          if (field[2] !== '|-' && field[2] !== '|') why.push(`${field[1]}: ${field[2]}`);
          else {
            // A block scalar: the lines indented deeper than the field.
            const block: string[] = [];
            for (let k = j + 1; k < lines.length && (lines[k]!.trim() === '' || lines[k]!.length - lines[k]!.trimStart().length > indent); k++) block.push(lines[k]!.trim());
            const text = block.filter(Boolean);
            why.push(`${field[1]}: ${text[0] ?? ''}`, ...text.slice(1));
          }
        }
      }
    }
    const fullName = [...path.slice(0, depth), name].join(' > ');
    path.length = depth;
    const childFailed = failedWithin[depth] === true;
    failedWithin.length = depth;
    const fail = (what: string) => {
      const shown = why.slice(0, ERROR_LINES).map((l) => (l.length > 300 ? `${l.slice(0, 300)}...` : l));
      out.failed++;
      out.failures.push([what, ...shown].join('\n'));
      for (let d = 0; d < depth; d++) failedWithin[d] = true;
    };
    if (isSuite) {
      if (point[2] === 'not ok' && failureType !== 'subtestsFailed' && !childFailed) fail(`${fullName} (${failureType || 'suite failed'})`);
      else if (childFailed) for (let d = 0; d < depth; d++) failedWithin[d] = true;
      continue;
    }
    if (point[2] === 'not ok') {
      fail(fullName);
    } else if (directive && directive[2]!.toUpperCase() === 'SKIP') {
      const reason = unescape(directive[3] ?? '');
      if (/^not applicable/i.test(reason)) {
        out.notApplicable++;
        reasons.add(reason);
      } else out.skipped++;
    } else if (directive) {
      out.skipped++; // TODO
    } else out.passed++;
  }
  out.failures.sort();
  out.notApplicableReasons = [...reasons].sort();
  return out;
}
