/** How a value reads in a table cell: absent as `-`, lists comma-joined, labels as k=v. */
export function cell (value: unknown): string {
  if (value === null || value === undefined || value === '') return '-'
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map(cell).join(',')
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
    return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${cell(v)}`).join(',')
  }
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  return String(value)
}

/**
 * A plain text table for people: a header row and left-aligned columns separated by two
 * spaces (easy to read, easy to `grep`; scripts use `--json`).
 * @example table(['ID', 'NAME'], [['key_1', 'alice']])
 */
export function table (headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n') + '\n'
}

/** One record as `field  value` lines (for `keys get`, `keys create`). */
export function details (record: Record<string, unknown>, fields: readonly string[]): string {
  const width = Math.max(...fields.map((f) => f.length))
  return fields.map((f) => `${f.padEnd(width)}  ${cell(record[f])}`).join('\n') + '\n'
}
