import type { BudgetPeriod, Limits } from './types.js'

/** The form's text fields for the limits keys and teams share (empty = no limit). */
export interface LimitsText {
  rpm: string
  tpm: string
  max_concurrency: string
  budget_usd: string
  budget_period: BudgetPeriod
  models: string
}

export function limitsText (l: Partial<Limits> | undefined): LimitsText {
  const s = (n: number | null | undefined): string => n === null || n === undefined ? '' : String(n)
  return {
    rpm: s(l?.rpm),
    tpm: s(l?.tpm),
    max_concurrency: s(l?.max_concurrency),
    budget_usd: s(l?.budget_usd),
    budget_period: l?.budget_period ?? 'month',
    models: (l?.models ?? []).join(', ')
  }
}

/** A number as typed, or null for empty; the gateway validates the rest and names a bad field. */
export function num (s: string): number | null {
  const t = s.trim()
  return t === '' ? null : Number(t)
}

export function limitsBody (t: LimitsText): Partial<Limits> {
  const models = t.models.split(/[\s,]+/).map((m) => m.trim()).filter((m) => m !== '')
  return {
    rpm: num(t.rpm),
    tpm: num(t.tpm),
    max_concurrency: num(t.max_concurrency),
    budget_usd: num(t.budget_usd),
    budget_period: t.budget_period,
    models: models.length === 0 ? null : models
  }
}

/** Only the fields that changed, so a PATCH (and its audit entry) says exactly what was edited. */
export function changed (before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(after)) {
    if (JSON.stringify(before[k] ?? null) !== JSON.stringify(v ?? null)) out[k] = v
  }
  return out
}
