import { describe, expect, it } from 'vitest'
import { keyRecordSchema } from '../../src/auth/key-record.js'
import { budgetError, rateLimitError, setLimitHeaders } from '../../src/ratelimit/headers.js'
import { keyLimits } from '../../src/ratelimit/key-limits.js'
import type { Decision } from '../../src/ratelimit/limiter.js'

const key = (fields: Record<string, unknown> = {}) => keyRecordSchema.parse({ id: 'k1', name: 'alice', key_prefix: 'sk-abc', created_at: '2026-11-29T00:00:00Z', ...fields })
const spec = { rpm: 60, tpm: 150_000, maxConcurrency: 4 }

describe('rate-limit headers and errors', () => {
  it('writes both OpenAI triples with reset durations', () => {
    const headers: Record<string, string> = {}
    setLimitHeaders(headers, { allowed: true, lease: undefined, requests: { limit: 60, remaining: 59, resetMs: 1000 }, tokens: { limit: 150_000, remaining: 149_984, resetMs: 360_000 } })
    expect(headers).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '150000',
      'x-ratelimit-remaining-tokens': '149984',
      'x-ratelimit-reset-tokens': '6m0s'
    })
  })

  it('writes only the triples of the limits a key has', () => {
    const headers: Record<string, string> = {}
    setLimitHeaders(headers, { allowed: true, lease: 'l1', requests: undefined, tokens: { limit: 10, remaining: 10, resetMs: 0 } })
    expect(Object.keys(headers)).toEqual(['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'])
    expect(headers['x-ratelimit-reset-tokens']).toBe('0s')
  })

  it.each([
    [1, '1', '1'], [999, '1', '999'], [1000, '1', '1000'], [1001, '2', '1001'], [90_001, '91', '90001']
  ])('a wait of %d ms → retry-after %s, retry-after-ms %s', (ms, seconds, millis) => {
    const d: Extract<Decision, { allowed: false }> = { allowed: false, limit: 'rpm', retryAfterMs: ms, inFlight: 0, requests: { limit: 60, remaining: 0, resetMs: 60_000 }, tokens: undefined }
    const err = rateLimitError(d, spec)
    expect(err.status).toBe(429)
    expect(err.headers).toEqual({ 'retry-after': seconds, 'retry-after-ms': millis })
    expect(err.toJSON().error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', param: null })
  })

  it('names the limit in OpenAI words', () => {
    const base = { allowed: false as const, retryAfterMs: 6000, inFlight: 4, requests: undefined, tokens: undefined }
    expect(rateLimitError({ ...base, limit: 'rpm' }, spec).message).toBe('Rate limit reached for requests per min (RPM) on this key: Limit 60. Please try again in 6s.')
    expect(rateLimitError({ ...base, limit: 'tpm' }, spec).toJSON().error).toMatchObject({ type: 'tokens', message: expect.stringContaining('tokens per min (TPM) on this key: Limit 150000') })
    expect(rateLimitError({ ...base, limit: 'concurrency' }, spec).message).toContain('concurrent requests on this key: Limit 4, In flight 4')
  })

  it('a spent budget is insufficient_quota and not retryable', () => {
    const err = budgetError(12.5, 'month')
    expect(err.status).toBe(429)
    expect(err.headers['x-should-retry']).toBe('false')
    expect(err.toJSON().error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota', message: expect.stringContaining('monthly budget of $12.50') })
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
