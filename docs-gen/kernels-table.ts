// The README's table of supported kernels, generated from what the kernel matrix measured
// (test/matrix/results.json, written by `npm test -- kernels`), never written by hand.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { MatrixResults, MatrixRow } from '../test/matrix/results.js';

export const MATRIX_RESULTS_PATH = fileURLToPath(new URL('../../test/matrix/results.json', import.meta.url));

/** Hook groups as the table shows them: column title and the hooks that make it up. */
const COLUMNS: Array<[string, string[]]> = [
  ['exec, fork, exit', ['exec', 'fork', 'exit']],
  ['TCP/UDP send', ['tcp_send', 'udp_send']],
  ['TCP/UDP receive', ['tcp_recv', 'udp_recv']],
  ['TCP state', ['tcp_state']],
  ['UDP peers', ['udp_peer']],
  ['DNS capture', ['dns']],
  ['local resolvers (nscd, varlink)', ['dns_local']],
];

function flavours(row: MatrixRow, hooks: string[]): string {
  const vias = [...new Set(hooks.map((h) => row.hooks.find((r) => r.hook === h)?.via ?? '?'))];
  if (hooks.includes('udp_peer') && vias[0] === 'none') return 'from the call (msghdr)';
  return vias.join(' + ');
}

function testsCell(row: MatrixRow): string {
  if (!row.tests) return row.status === 'passed' ? '' : `${row.status}${row.reason ? `: ${row.reason}` : ''}`;
  const t = row.tests;
  return `${t.passed} passed, ${t.failed} failed, ${t.notApplicable} n/a`;
}

export function kernelsReference(file = MATRIX_RESULTS_PATH): string {
  if (!existsSync(file)) return '_The kernel matrix has not been run yet: `npm test -- kernels`._';
  const results = JSON.parse(readFileSync(file, 'utf8')) as MatrixResults;
  const out: string[] = [
    `Measured ${results.measured} by \`npm test -- kernels\` (the kernel suite and the agent end to end inside each kernel; Debian's kernel packages under qemu, and this machine's own kernel). Flavours are what \`--hook-mode auto\` picked.`,
    '',
    `| kernel | from | ${COLUMNS.map(([title]) => title).join(' | ')} | tests | status |`,
    `| --- | --- | ${COLUMNS.map(() => '---').join(' | ')} | --- | --- |`,
  ];
  for (const row of results.rows) {
    const from = row.suite ? `${row.distro} (${row.package} ${row.version})` : row.distro;
    const cells = COLUMNS.map(([, hooks]) => (row.hooks.length ? flavours(row, hooks) : ''));
    out.push(`| ${row.kernel} | ${from} | ${cells.join(' | ')} | ${testsCell(row)} | ${row.status} |`);
  }
  const notes = results.rows.filter((r) => r.tests?.notApplicableReasons.length);
  if (notes.length) {
    out.push('', 'Not applicable, as each kernel said:');
    for (const r of notes) {
      for (const reason of r.tests!.notApplicableReasons) out.push(`- ${r.kernel}: ${reason.replace(/^not applicable on this kernel: /, '')}`);
    }
  }
  const failing = results.rows.filter((r) => r.tests?.failures.length);
  for (const r of failing) out.push('', `Failing on ${r.kernel}: ${r.tests!.failures.join('; ')}`);
  return out.join('\n');
}
