import { describe, expect, it } from 'vitest'
import { diff } from '../../src/audit/audit-entry.js'
import { KeyCache } from '../../src/auth/key-cache.js'
import { keyRecordSchema } from '../../src/auth/key-record.js'
import { budgetView, periodResetsAt } from '../../src/teams/budget-view.js'
import { parseReportQuery } from '../../src/usage-api/query.js'
import { costBuckets, dayBuckets, pageOf, usageBuckets } from '../../src/usage-api/report.js'
import { emptyRow, type LedgerRow } from '../../src/metering/record.js'

const DAY = 86_400
const T0 = Date.UTC(2026, 11, 1) / 1000 // 2026-12-01T00:00:00Z

describe('budget views', () => {
  it('shows spend, remaining (never negative) and the next reset in exact nano-dollars', () => {
    const now = Date.UTC(2026, 11, 15, 13, 5)
    expect(budgetView(1, 'month', 6_265_000, now)).toEqual({ usd: 1, period: 'month', spent_usd: 0.006265, remaining_usd: 0.993735, resets_at: '2027-01-01T00:00:00.000Z' })
    expect(budgetView(0.001, 'day', 6_265_000, now).remaining_usd).toBe(0)
    expect(periodResetsAt('day', Date.UTC(2026, 11, 31, 23, 59))).toBe('2027-01-01T00:00:00.000Z')
    expect(periodResetsAt('total', now)).toBeNull()
  })
})

describe('audit changes', () => {
  it('lists changed fields as [before, after] and never a secret', () => {
    expect(diff({ rpm: 1, name: 'a', models: ['x'] }, { rpm: 2, name: 'a', models: ['x'], key: 'sk-secret', key_hash: 'abc' })).toEqual({ rpm: [1, 2] })
    expect(diff(undefined, { name: 'a', object: 'gateway.key' })).toEqual({ name: [null, 'a'] })
    expect(diff({ name: 'a' }, undefined)).toEqual({ name: ['a', null] })
  })
})

describe('the key cache with a rotated secret in its grace period', () => {
  const record = keyRecordSchema.parse({ id: 'key_1', name: 'k', key_prefix: 'sk-abcde', created_at: '2026-12-01T00:00:00.000Z', expires_at: '2099-01-01T00:00:00.000Z' })
  it('gives the old secret the grace end as its expiry, keeps it across updates, and drops both secrets on rotation', () => {
    const cache = new KeyCache({ maxEntries: 10, negativeTtlMs: 1000, maxNegative: 10, now: () => 0 })
    cache.set('new', record)
    cache.set('old', record, '2026-12-01T01:00:00.000Z')
    expect(cache.get('new')!.expires_at).toBe('2099-01-01T00:00:00.000Z')
    expect(cache.get('old')!.expires_at).toBe('2026-12-01T01:00:00.000Z')
    cache.update('key_1', (r) => ({ ...r, rpm: 5, expires_at: '2099-01-01T00:00:00.000Z' }))
    expect(cache.get('old')).toMatchObject({ rpm: 5, expires_at: '2026-12-01T01:00:00.000Z' })
    expect(cache.get('new')).toMatchObject({ rpm: 5, expires_at: '2099-01-01T00:00:00.000Z' })
    // A key expiring before the grace ends keeps its own expiry.
    cache.update('key_1', (r) => ({ ...r, expires_at: '2026-12-01T00:30:00.000Z' }))
    expect(cache.get('old')!.expires_at).toBe('2026-12-01T00:30:00.000Z')
    cache.drop('key_1')
    expect(cache.get('old')).toBeUndefined()
    expect(cache.get('new')).toBeUndefined()
    expect(cache.has('key_1')).toBe(false)
  })
})

describe('the Usage and Costs API query and report', () => {
  const row = (over: Partial<LedgerRow> & { teamId?: string | null }): LedgerRow => ({ ...emptyRow('key_a', 'a', 'gpt-5.2-chat-latest', '2026-12-01'), requests: 1, inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, costNanos: 6_265_000, ...over })

  it('parses lists in every form the SDKs send and refuses what the ledger cannot answer', () => {
    const q = parseReportQuery('completions', { start_time: String(T0), 'group_by[]': ['model', 'project_id'], api_key_ids: 'k1,k2', models: ['m1', 'm2'] }, T0 * 1000)
    expect([...q.groups]).toEqual(['model', 'project_id'])
    expect([...q.apiKeyIds!]).toEqual(['k1', 'k2'])
    expect([...q.models!]).toEqual(['m1', 'm2'])
    expect(q.end).toBe(T0 + DAY)
    expect(() => parseReportQuery('completions', { start_time: String(T0), bucket_width: '1h' }, T0 * 1000)).toThrow(/only 1d/)
    expect(() => parseReportQuery('costs', { start_time: String(T0), group_by: 'model' }, T0 * 1000)).toThrow(/group_by/)
    expect(() => parseReportQuery('costs', { start_time: [String(T0), '1'] }, 0)).toThrow(/once/)
  })

  it('makes UTC day buckets from the midnight at or before start_time, paged by limit', () => {
    expect(dayBuckets(T0 + 3600, T0 + DAY + 1).map((b) => b.day)).toEqual(['2026-12-01', '2026-12-02'])
    const q = parseReportQuery('costs', { start_time: String(T0), end_time: String(T0 + 5 * DAY), limit: '2', page: 'day_4' }, 0)
    expect(pageOf(q)).toEqual({ buckets: [{ start: T0 + 4 * DAY, end: T0 + 5 * DAY, day: '2026-12-05' }], nextPage: null })
  })

  it('sums per bucket and group, a team as a project, cache hits not as model requests', () => {
    const rows = [row({ teamId: 'team_1' }), row({ keyId: 'key_b', teamId: 'team_1', requests: 2, cacheHits: 1 }), row({ keyId: 'key_c' }), row({ day: '2026-12-02' })]
    const q = parseReportQuery('completions', { start_time: String(T0), end_time: String(T0 + 2 * DAY), group_by: 'project_id' }, 0)
    const [first, second] = usageBuckets(rows, q, pageOf(q).buckets)
    expect(first!.results.map((r) => [r.project_id, r.num_model_requests, r.input_tokens])).toEqual([['team_1', 2, 2000], [null, 1, 1000]])
    expect(second!.results).toHaveLength(1)
    const c = parseReportQuery('costs', { start_time: String(T0), end_time: String(T0 + DAY) }, 0)
    expect(costBuckets(rows, c, pageOf(c).buckets)[0]!.results).toEqual([{ object: 'organization.costs.result', amount: { value: 0.018795, currency: 'usd' }, line_item: null, project_id: null, api_key_id: null, quantity: null }])
  })
})
