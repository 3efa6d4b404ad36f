/**
 * A minimal micro-benchmark harness (no dependency): each case runs in batches until
 * `timeMs` has passed, after a warm-up long enough for V8 to optimise it; the figure is
 * the median batch's time per operation. Cases of one group print side by side so an
 * old and a new implementation read as a ratio.
 */

export interface Case {
  name: string
  /** One operation; return something so V8 cannot drop the work. */
  fn: () => unknown
}

export interface CaseResult { name: string, nsPerOp: number }

let sink: unknown

function timeBatch (fn: () => unknown, ops: number): number {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < ops; i++) sink = fn()
  return Number(process.hrtime.bigint() - t0) / ops
}

export function measure (c: Case, timeMs = 400): CaseResult {
  // Size batches to ~5 ms each, then warm up for a quarter of the time.
  let ops = 1
  while (timeBatch(c.fn, ops) * ops < 5e6 && ops < 1e8) ops *= 2
  const warmEnd = Date.now() + timeMs / 4
  while (Date.now() < warmEnd) timeBatch(c.fn, ops)
  const samples: number[] = []
  const end = Date.now() + timeMs
  while (Date.now() < end || samples.length < 5) samples.push(timeBatch(c.fn, ops))
  samples.sort((a, b) => a - b)
  return { name: c.name, nsPerOp: samples[samples.length >> 1]! }
}

function fmt (ns: number): string {
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`
}

/** Runs a group of cases and returns a Markdown table (ratio to the group's first case). */
export function group (title: string, cases: readonly Case[], timeMs?: number): string {
  const results = cases.map((c) => measure(c, timeMs))
  const base = results[0]!.nsPerOp
  const rows = [`#### ${title}`, '', '| case | per op | × first |', '|---|---|---|']
  for (const r of results) rows.push(`| ${r.name} | ${fmt(r.nsPerOp)} | ${(r.nsPerOp / base).toFixed(2)} |`)
  if (sink === Symbol.for('never')) rows.push('')
  return rows.join('\n')
}
