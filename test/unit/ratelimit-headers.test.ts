import { describe, expect, it } from 'vitest'
import { keyRecordSchema } from '../../src/auth/key-record.js'
import type { AdmissionDecision, Subject, SubjectView } from '../../src/ratelimit/admission.js'
import { admissionError, setViewHeaders } from '../../src/ratelimit/headers.js'
import { keyLimits } from '../../src/ratelimit/key-limits.js'

const key = (fields: Record<string, unknown> = {}) => keyRecordSchema.parse({ id: 'k1', name: 'alice', key_prefix: 'sk-abc', created_at: '2026-11-29T00:00:00Z', ...fields })

const subject = (s: Partial<Subject> = {}): Subject => ({ scope: 'key', id: 'k1', name: 'alice', rpm: 60, tpm: 150_000, maxConcurrency: 4, budget: null, ...s })
const view = (v: Partial<SubjectView> = {}): SubjectView => ({ requests: undefined, tokens: undefined, spentNanos: undefined, heldNanos: 0, inFlight: 4, ...v })
const ticket = { id: 't', subjects: [], claim: { tokens: 0, nanos: 0 } }
const refused = (d: Partial<Extract<AdmissionDecision, { allowed: false }>>): Extract<AdmissionDecision, { allowed: false }> => ({ allowed: false, refusedBy: 0, limit: 'rpm', retryAfterMs: 6000, views: [view()], claim: { tokens: 0, nanos: 0 }, ...d })

describe('rate-limit headers and errors', () => {
  it('writes both OpenAI triples with reset durations', () => {
    const headers: Record<string, string> = {}
    setViewHeaders(headers, [subject()], { allowed: true, ticket, views: [view({ requests: { limit: 60, remaining: 59, resetMs: 1000 }, tokens: { limit: 150_000, remaining: 149_984, resetMs: 360_000 } })] })
    expect(headers).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '150000',
      'x-ratelimit-remaining-tokens': '149984',
      'x-ratelimit-reset-tokens': '6m0s'
    })
  })

  it('writes only the triples of the limits a key has; the team\'s where the key has none', () => {
    const headers: Record<string, string> = {}
    const views = [view({ tokens: { limit: 10, remaining: 10, resetMs: 0 } }), view({ requests: { limit: 5, remaining: 4, resetMs: 12 }, tokens: { limit: 99, remaining: 1, resetMs: 0 } })]
    setViewHeaders(headers, [subject(), subject({ scope: 'team' })], { allowed: true, ticket, views })
    expect(headers).toEqual({
      'x-ratelimit-limit-requests': '5',
      'x-ratelimit-remaining-requests': '4',
      'x-ratelimit-reset-requests': '12ms',
      'x-ratelimit-limit-tokens': '10',
      'x-ratelimit-remaining-tokens': '10',
      'x-ratelimit-reset-tokens': '0s'
    })
  })

  it('a refusal shows the refusing subject\'s bucket and names its scope', () => {
    const headers: Record<string, string> = {}
    const views = [view({ tokens: { limit: 10, remaining: 10, resetMs: 0 } }), view({ tokens: { limit: 99, remaining: 0, resetMs: 100 } })]
    setViewHeaders(headers, [subject(), subject({ scope: 'team' })], refused({ refusedBy: 1, limit: 'tpm', views }))
    expect(headers).toMatchObject({ 'x-ratelimit-limit-tokens': '99', 'x-ratelimit-remaining-tokens': '0', 'x-gateway-limit-scope': 'team' })
  })

  it.each([
    [1, '1', '1'], [999, '1', '999'], [1000, '1', '1000'], [1001, '2', '1001'], [90_001, '91', '90001']
  ])('a wait of %d ms → retry-after %s, retry-after-ms %s', (ms, seconds, millis) => {
    const err = admissionError(refused({ retryAfterMs: ms }), subject(), view())
    expect(err.status).toBe(429)
    expect(err.headers).toEqual({ 'retry-after': seconds, 'retry-after-ms': millis })
    expect(err.toJSON().error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', param: null })
  })

  it('names the limit in OpenAI words, and the team when it is the team\'s', () => {
    expect(admissionError(refused({ limit: 'rpm' }), subject(), view()).message).toBe('Rate limit reached for requests per min (RPM) on this key: Limit 60. Please try again in 6s.')
    expect(admissionError(refused({ limit: 'tpm' }), subject(), view()).toJSON().error).toMatchObject({ type: 'tokens', message: expect.stringContaining('tokens per min (TPM) on this key: Limit 150000') })
    expect(admissionError(refused({ limit: 'concurrency' }), subject(), view()).message).toContain('concurrent requests on this key: Limit 4, In flight 4')
    expect(admissionError(refused({ limit: 'rpm' }), subject({ scope: 'team', name: 'research' }), view()).message).toBe('Rate limit reached for requests per min (RPM) on the team research: Limit 60. Please try again in 6s.')
  })

  it('a spent budget is insufficient_quota, not retryable, and shows the budget with all its digits', () => {
    const budget = { nanos: 12_500_000_000, period: 'month' as const }
    const err = admissionError(refused({ limit: 'budget', retryAfterMs: 0 }), subject({ budget }), view({ spentNanos: 12_500_000_000 }))
    expect(err.status).toBe(429)
    expect(err.headers['x-should-retry']).toBe('false')
    expect(err.toJSON().error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota', message: expect.stringContaining('monthly budget of $12.5.') })
    const tiny = admissionError(refused({ limit: 'budget' }), subject({ budget: { nanos: 1_000_000, period: 'day' } }), view({ spentNanos: 6_265_000 }))
    expect(tiny.message).toBe('This key has spent its daily budget of $0.001. Ask your gateway admin to raise it.')
    const team = admissionError(refused({ limit: 'budget', refusedBy: 1 }), subject({ scope: 'team', name: 'research', budget }), view({ spentNanos: 13e9 }))
    expect(team.message).toBe('The team research has spent its monthly budget of $12.5. Ask your gateway admin to raise it.')
  })

  it('a budget not spent but too small for this request\'s worst case says what is reserved', () => {
    const err = admissionError(refused({ limit: 'budget', claim: { tokens: 4100, nanos: 45_900_000 } }), subject({ budget: { nanos: 10_000_000, period: 'day' } }), view({ spentNanos: 6_265_000, heldNanos: 0 }))
    expect(err.toJSON().error).toMatchObject({ code: 'insufficient_quota', type: 'insufficient_quota' })
    expect(err.headers['x-should-retry']).toBe('false')
    expect(err.message).toBe('This request could cost up to $0.0459, more than is left of this key\'s daily budget of $0.01 ($0.006265 spent, $0 held by requests in flight). Send a lower max_tokens, or retry when those have finished.')
  })
})

describe('keyLimits: a key\'s own limits over limits.defaults', () => {
  it('takes each field from the key when set, else from the defaults', () => {
    expect(keyLimits(key({ rpm: 5 }), { rpm: 100, tpm: 1000 }).spec).toEqual({ rpm: 5, tpm: 1000, maxConcurrency: null })
    expect(keyLimits(key(), {}).spec).toEqual({ rpm: null, tpm: null, maxConcurrency: null })
  })

  it('keeps a key\'s budget period, and gives an inherited budget the default period', () => {
    expect(keyLimits(key({ budget_usd: 5, budget_period: 'day' }), { budget_usd: 1, budget_period: 'total' }).budget).toEqual({ usd: 5, period: 'day' })
    expect(keyLimits(key({ budget_usd: 5 }), {}).budget).toEqual({ usd: 5, period: 'month' })
    expect(keyLimits(key(), { budget_usd: 1, budget_period: 'total' }).budget).toEqual({ usd: 1, period: 'total' })
    expect(keyLimits(key(), { budget_usd: 1 }).budget).toEqual({ usd: 1, period: 'month' })
    expect(keyLimits(key(), {}).budget).toBeUndefined()
  })
})
