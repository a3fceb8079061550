// The matrix as a terminal table: one row per kernel with the hook flavour of each hook group,
// tests passed/failed/not applicable and the time it took; failures listed under the table.
import type { HookReport } from '../../native/types.js';
import type { MatrixRow } from './results.js';

/** tcp_send and udp_send form one group "send", likewise "recv"; every other hook is its own group. */
const groupOf = (hook: string) => hook.replace(/^(tcp|udp)_(send|recv)$/, '$2');

/**
 * "exec tp_btf, send fentry, recv tcp:kprobe udp:tp_btf, ..." in the order the collector
 * reported: one flavour per group, or each member's when they differ.
 */
export function hookGroups(hooks: Array<Pick<HookReport, 'hook' | 'via'>>): string {
  const groups = new Map<string, Array<Pick<HookReport, 'hook' | 'via'>>>();
  for (const h of hooks) groups.set(groupOf(h.hook), [...(groups.get(groupOf(h.hook)) ?? []), h]);
  return [...groups]
    .map(([g, members]) => {
      const vias = new Set(members.map((m) => m.via));
      if (vias.size === 1) return `${g} ${members[0]!.via}`;
      return `${g} ${members.map((m) => `${m.hook.replace(/_(send|recv)$/, '')}:${m.via}`).join(' ')}`;
    })
    .join(', ');
}

function seconds(r: MatrixRow): string {
  const { boot, report, suite } = r.seconds;
  if (report === null && suite === null) return '-';
  const total = (report ?? 0) + (suite ?? 0);
  return boot === null ? `${total} s` : `${total} s (boot ${boot} s)`;
}

function counts(r: MatrixRow): string {
  if (r.status === 'skipped' || r.status === 'no boot' || !r.tests) return r.status;
  const t = r.tests;
  const extra = t.skipped ? ` (+${t.skipped} skipped)` : '';
  return `${t.passed}/${t.failed}/${t.notApplicable}${extra}${r.status === 'timed out' ? ' timed out' : ''}`;
}

export function formatTable(rows: MatrixRow[]): string {
  const header = ['kernel', 'distro', 'run', 'hooks', 'pass/fail/n-a', 'time'];
  const body = rows.map((r) => [
    r.kernel || r.id,
    r.distro,
    r.accel,
    r.collectorError ? `collector failed: ${r.collectorError.split('\n')[0]}` : hookGroups(r.hooks) || '-',
    counts(r),
    seconds(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  for (const r of rows) {
    const notes = [...(r.reason ? [r.reason] : []), ...(r.tests?.failures ?? []).map((f) => `failed: ${f}`)];
    if (r.e2e !== 'run') notes.push(`end-to-end: ${r.e2e}`);
    if (notes.length) out.push('', `${r.kernel || r.id} (${r.distro}):`, ...notes.map((n) => `  ${n.split('\n').join('\n    ')}`));
  }
  return out.join('\n');
}
