import type { UsageRow } from './types.js'

export interface Stack {
  days: string[]
  /** One series per group, biggest total first; `values[i]` is its cost on `days[i]`. */
  series: Array<{ label: string, total: number, values: number[] }>
}

/**
 * Per-day rows (grouped by day and one more field) as series over every day of the range,
 * days without spend included, so the chart's x axis is the calendar.
 */
export function stackRows (rows: UsageRow[], days: string[], label: (r: UsageRow) => string): Stack {
  const index = new Map(days.map((d, i) => [d, i]))
  const byLabel = new Map<string, number[]>()
  for (const r of rows) {
    const i = index.get(r.day ?? '')
    if (i === undefined) continue
    const name = label(r)
    let values = byLabel.get(name)
    if (values === undefined) byLabel.set(name, values = days.map(() => 0))
    values[i]! += r.cost_usd
  }
  const series = [...byLabel].map(([l, values]) => ({ label: l, values, total: values.reduce((a, b) => a + b, 0) }))
  series.sort((a, b) => b.total - a.total || a.label.localeCompare(b.label))
  return { days, series }
}

/** Running sums bottom-up: band i is drawn from cumulative[i-1] to cumulative[i]. */
export function cumulative (stack: Stack): number[][] {
  const out: number[][] = []
  let below = stack.days.map(() => 0)
  for (const s of stack.series) {
    below = below.map((b, i) => b + s.values[i]!)
    out.push(below)
  }
  return out
}
