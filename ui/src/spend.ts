import { periodStart } from './format.js'
import type { Team, UsageRow } from './types.js'

/** Spend per team within its budget period, from the ledger's per-day rows. */
export function teamSpend (teams: Team[], rows: UsageRow[], now = Date.now()): Map<string, number> {
  const out = new Map<string, number>()
  for (const t of teams) {
    if (t.spent_usd !== undefined) { out.set(t.id, t.spent_usd); continue }
    const from = periodStart(t.budget_period, now)
    let sum = 0
    for (const r of rows) if (r.team_id === t.id && (r.day ?? '') >= from) sum += r.cost_usd
    out.set(t.id, Math.round(sum * 1e9) / 1e9)
  }
  return out
}
