// Plain-text tables for the terminal views (procflow flows, procflow dns).

/**
 * Columns padded to their widest cell. Control characters (a newline in a process argument, a
 * terminal escape in a name someone chose) print escaped: one row a line, nothing reaches the
 * terminal that it would act on.
 */
export function table(cells: string[][]): string {
  const rows = cells.map((r) => r.map((cell) => cell.replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => ({ '\n': '\\n', '\r': '\\r', '\t': '\\t' })[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)));
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}
