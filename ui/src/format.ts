/** Display formats: money, counts, UTC days. Pure functions, no DOM. */

const count = new Intl.NumberFormat('en-US')

export function int (n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : count.format(n)
}

/** USD with enough decimals that a fraction of a cent still shows (metered costs are tiny). */
export function usd (n: number | null | undefined): string {
  if (n === null || n === undefined) return '—'
  if (n === 0) return '$0.00'
  const abs = Math.abs(n)
  const digits = abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6
  return (n < 0 ? '-$' : '$') + abs.toFixed(digits)
}

/** Today as a UTC YYYY-MM-DD (the ledger's days are UTC). */
export function today (now = Date.now()): string {
  return new Date(now).toISOString().slice(0, 10)
}

export function firstOfMonth (now = Date.now()): string {
  return today(now).slice(0, 8) + '01'
}

export function addDays (day: string, n: number): string {
  return new Date(Date.parse(day + 'T00:00:00Z') + n * 86_400_000).toISOString().slice(0, 10)
}

/** Every UTC day from `from` to `to`, both included (at most `max`, so a typo cannot hang the tab). */
export function daysBetween (from: string, to: string, max = 1000): string[] {
  const out: string[] = []
  for (let d = from; d <= to && out.length < max; d = addDays(d, 1)) out.push(d)
  return out
}

/** `2026-12-01 14:03 UTC` */
export function when (iso: string | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') return '—'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  return new Date(t).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
}

/** A changed value as one short line of text (JSON for arrays and objects). */
export function value (v: unknown): string {
  if (v === null || v === undefined) return '—'
  if (typeof v === 'string') return v
  return JSON.stringify(v)
}

/** Where the stack's start is for a budget period: the first day the period's spend counts from. */
export function periodStart (period: 'day' | 'month' | 'total', now = Date.now()): string {
  if (period === 'day') return today(now)
  if (period === 'month') return firstOfMonth(now)
  return '2000-01-01'
}
