import { describe, expect, it } from 'vitest'
import { addDays, daysBetween, firstOfMonth, int, periodStart, today, usd, value, when } from '../../ui/src/format.js'
import { changed, limitsBody, limitsText, num } from '../../ui/src/limits.js'
import { teamSpend } from '../../ui/src/spend.js'
import { cumulative, stackRows } from '../../ui/src/stack.js'
import type { Team, UsageRow } from '../../ui/src/types.js'

const row = (day: string, model: string, cost: number, team?: string): UsageRow => ({
  day, model, team_id: team, requests: 1, input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, cost_usd: cost, cache_hits: 0, saved_usd: 0
})

describe('display formats', () => {
  it('shows fractions of a cent and thousands separators', () => {
    expect(usd(0)).toBe('$0.00')
    expect(usd(12.5)).toBe('$12.50')
    expect(usd(0.0125)).toBe('$0.0125')
    expect(usd(0.006265)).toBe('$0.006265')
    expect(usd(-2)).toBe('-$2.00')
    expect(usd(null)).toBe('—')
    expect(int(1234567)).toBe('1,234,567')
    expect(int(null)).toBe('—')
  })

  it('works in UTC days', () => {
    const t = Date.parse('2026-12-01T23:30:00-05:00') // already Dec 2 in UTC
    expect(today(t)).toBe('2026-12-02')
    expect(firstOfMonth(t)).toBe('2026-12-01')
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28')
    expect(daysBetween('2026-12-30', '2027-01-02')).toEqual(['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02'])
    expect(daysBetween('2026-01-02', '2026-01-01')).toEqual([])
    expect(daysBetween('2000-01-01', '2100-01-01')).toHaveLength(1000)
    expect(when('2026-12-01T14:03:59.123Z')).toBe('2026-12-01 14:03 UTC')
    expect(when('not a date')).toBe('not a date')
    expect(periodStart('day', t)).toBe('2026-12-02')
    expect(periodStart('month', t)).toBe('2026-12-01')
    expect(periodStart('total', t)).toBe('2000-01-01')
  })

  it('shows audit values as one line of text', () => {
    expect(value(null)).toBe('—')
    expect(value('<b>x</b>')).toBe('<b>x</b>')
    expect(value(['a', 'b*'])).toBe('["a","b*"]')
    expect(value(60)).toBe('60')
  })
})

describe('the limits form', () => {
  it('round-trips a record: empty fields are null (no limit), models split on commas and spaces', () => {
    const text = limitsText({ rpm: 60, tpm: null, max_concurrency: undefined, budget_usd: 2.5, budget_period: 'day', models: ['gpt-5.2*', 'o3'] })
    expect(text).toEqual({ rpm: '60', tpm: '', max_concurrency: '', budget_usd: '2.5', budget_period: 'day', models: 'gpt-5.2*, o3' })
    expect(limitsBody({ ...text, models: ' a,b  c ,, ' })).toEqual({ rpm: 60, tpm: null, max_concurrency: null, budget_usd: 2.5, budget_period: 'day', models: ['a', 'b', 'c'] })
    expect(limitsBody({ ...text, models: '' }).models).toBeNull()
    expect(limitsText(undefined).budget_period).toBe('month')
  })

  it('passes what was typed on, for the gateway to judge', () => {
    expect(num(' 12 ')).toBe(12)
    expect(num('')).toBeNull()
    expect(num('abc')).toBeNaN()
  })

  it('patches only the fields that changed', () => {
    const before = { name: 'alice', rpm: 60, tpm: null, models: ['a'], team_id: null }
    expect(changed(before, { name: 'alice', rpm: 60, tpm: null, models: ['a'], team_id: null })).toEqual({})
    expect(changed(before, { name: 'alice', rpm: 120, tpm: null, models: ['a', 'b'], team_id: 'team_1' })).toEqual({ rpm: 120, models: ['a', 'b'], team_id: 'team_1' })
    // undefined and null are both "no value".
    expect(changed({ budget_usd: undefined }, { budget_usd: null })).toEqual({})
  })
})

describe('the spend chart data', () => {
  const days = ['2026-11-29', '2026-11-30', '2026-12-01']
  const rows = [row('2026-11-29', 'a', 1), row('2026-12-01', 'a', 2), row('2026-11-30', 'b', 5), row('2026-12-01', 'b', 0.5), row('2026-10-01', 'a', 99)]

  it('has a value for every day of the range, biggest series first, rows outside ignored', () => {
    const stack = stackRows(rows, days, (r) => r.model!)
    expect(stack.days).toEqual(days)
    expect(stack.series).toEqual([
      { label: 'b', values: [0, 5, 0.5], total: 5.5 },
      { label: 'a', values: [1, 0, 2], total: 3 }
    ])
  })

  it('stacks as running sums, bottom up', () => {
    expect(cumulative(stackRows(rows, days, (r) => r.model!))).toEqual([[0, 5, 0.5], [1, 5, 2.5]])
  })
})

describe('team spend for the budget bar', () => {
  const team = (id: string, period: Team['budget_period'], spent?: number): Team => ({ id, name: id, rpm: null, tpm: null, max_concurrency: null, budget_usd: 10, budget_period: period, models: null, ...(spent === undefined ? {} : { spent_usd: spent }) })
  const now = Date.parse('2026-12-02T12:00:00Z')
  const rows = [row('2026-11-30', 'm', 1, 't1'), row('2026-12-01', 'm', 2, 't1'), row('2026-12-02', 'm', 4, 't1'), row('2026-12-02', 'm', 8, 't2'), row('2026-12-02', 'm', 16)]

  it('sums the team\'s rows from the start of its budget period', () => {
    const spend = teamSpend([team('t1', 'day'), team('t1m', 'month'), team('t2', 'total')], rows, now)
    expect(spend.get('t1')).toBe(4)
    expect(spend.get('t1m')).toBe(0)
    expect(spend.get('t2')).toBe(8)
    expect(teamSpend([team('t1', 'month')], rows, now).get('t1')).toBe(6)
    expect(teamSpend([team('t1', 'total')], rows, now).get('t1')).toBe(7)
  })

  it('takes the gateway\'s own figure when the team carries one', () => {
    expect(teamSpend([team('t1', 'month', 1.25)], rows, now).get('t1')).toBe(1.25)
  })
})
