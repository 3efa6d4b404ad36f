import { describe, expect, it } from 'vitest'
import { errorRetryReason, retryAfterMs, sameUpstreamWaitMs, statusRetryReason } from '../../src/upstreams/retry-policy.js'

describe('retry decision table', () => {
  it.each([
    [429, '429'], [500, '500'], [502, '502'], [503, '503'], [504, '504']
  ])('retries status %i', (status, reason) => {
    expect(statusRetryReason(status)).toBe(reason)
  })

  it.each([200, 201, 301, 400, 401, 403, 404, 408, 409, 413, 422, 501, 505])('answers status %i as it is', (status) => {
    expect(statusRetryReason(status)).toBeUndefined()
  })

  it('an upstream that says x-should-retry: false is not tried again for this request (others may be)', () => {
    expect(sameUpstreamWaitMs({ 'x-should-retry': 'false', 'retry-after': '1' }, 0)).toBe(Infinity)
    expect(sameUpstreamWaitMs({ 'x-should-retry': 'true', 'retry-after': '1' }, 0)).toBe(1000)
    expect(sameUpstreamWaitMs({}, 0)).toBe(0)
  })

  it('retries connection errors and header timeouts, not the other errors', () => {
    expect(errorRetryReason('GW_ERR_UPSTREAM_UNAVAILABLE')).toBe('unavailable')
    expect(errorRetryReason('GW_ERR_UPSTREAM_TIMEOUT')).toBe('timeout')
    expect(errorRetryReason('GW_ERR_UPSTREAM_REDIRECT')).toBeUndefined()
    expect(errorRetryReason('GW_ERR_UPSTREAM_NOT_CONFIGURED')).toBeUndefined()
    expect(errorRetryReason('GW_ERR_INTERNAL')).toBeUndefined()
  })
})

describe('retry-after', () => {
  const now = Date.parse('2026-12-01T20:00:00Z')

  it('reads seconds, decimals, retry-after-ms and HTTP dates', () => {
    expect(retryAfterMs({ 'retry-after': '2' }, now)).toBe(2000)
    expect(retryAfterMs({ 'retry-after': '0.5' }, now)).toBe(500)
    expect(retryAfterMs({ 'retry-after-ms': '750', 'retry-after': '9' }, now)).toBe(750)
    expect(retryAfterMs({ 'retry-after': 'Tue, 01 Dec 2026 20:00:30 GMT' }, now)).toBe(30_000)
  })

  it('is 0 when absent, past or unreadable', () => {
    expect(retryAfterMs({}, now)).toBe(0)
    expect(retryAfterMs({ 'retry-after': '' }, now)).toBe(0)
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBe(0)
    expect(retryAfterMs({ 'retry-after': '-3' }, now)).toBe(0)
    expect(retryAfterMs({ 'retry-after': 'Tue, 01 Dec 2026 19:00:00 GMT' }, now)).toBe(0)
    expect(retryAfterMs({ 'retry-after-ms': 'x', 'retry-after': '1' }, now)).toBe(1000)
  })

  it('takes the first of repeated headers', () => {
    expect(retryAfterMs({ 'retry-after': ['1', '60'] }, now)).toBe(1000)
  })
})
