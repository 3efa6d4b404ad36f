import type { BudgetPeriod, Limits } from './api.js'
import { Field } from './components.js'

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

export function LimitsFields (props: { value: LimitsText, onChange: (v: LimitsText) => void, modelsHint: string }) {
  const v = props.value
  const set = (k: keyof LimitsText) => (e: Event) => { props.onChange({ ...v, [k]: (e.currentTarget as HTMLInputElement).value }) }
  return (
    <>
      <Field label='Requests per minute'><input name='rpm' inputMode='numeric' value={v.rpm} onInput={set('rpm')} placeholder='No limit' /></Field>
      <Field label='Tokens per minute'><input name='tpm' inputMode='numeric' value={v.tpm} onInput={set('tpm')} placeholder='No limit' /></Field>
      <Field label='Concurrent requests'><input name='max_concurrency' inputMode='numeric' value={v.max_concurrency} onInput={set('max_concurrency')} placeholder='No limit' /></Field>
      <Field label='Budget (USD)'><input name='budget_usd' inputMode='decimal' value={v.budget_usd} onInput={set('budget_usd')} placeholder='No budget' /></Field>
      <Field label='Budget period'>
        <select name='budget_period' value={v.budget_period} onChange={set('budget_period')}>
          <option value='day'>Per day</option>
          <option value='month'>Per month</option>
          <option value='total'>Lifetime</option>
        </select>
      </Field>
      <Field label='Models' hint={props.modelsHint} wide>
        <input name='models' value={v.models} onInput={set('models')} placeholder='Every model' />
      </Field>
    </>
  )
}
