import { describe, expect, it } from 'vitest'
import { admitTokens, debitTokens, formatDuration, remaining, resetMs, takeRequest, WINDOW_MS, type Bucket } from '../../src/ratelimit/bucket.js'

const T0 = 1_764_400_000_000

/** Takes requests at `now` until refused; returns how many were admitted. */
function burst (limit: number, now: number, start?: Bucket): { admitted: number, bucket: Bucket | undefined, retryMs: number } {
  let b = start
  for (let admitted = 0; ; admitted++) {
    const c = takeRequest(b, limit, now)
    if (!c.ok) return { admitted, bucket: b, retryMs: c.retryMs }
    b = c.bucket
  }
}

describe('request bucket (RPM)', () => {
  it('admits exactly the limit at once, for limits that do not divide a minute evenly', () => {
    for (const limit of [1, 3, 7, 10, 60, 600, 997]) expect(burst(limit, T0).admitted).toBe(limit)
  })

  it('refills one request every 60 s / limit, exactly', () => {
    const { bucket, retryMs } = burst(7, T0)
    // 60000 / 7 = 8571.43 ms → admitted from 8572 ms on, not before.
    expect(retryMs).toBe(8572)
    expect(takeRequest(bucket, 7, T0 + 8571).ok).toBe(false)
    expect(takeRequest(bucket, 7, T0 + 8572).ok).toBe(true)
    expect(burst(7, T0 + 60_000, bucket).admitted).toBe(7)
  })

  it('never holds more than a full minute, however long it was idle', () => {
    const { bucket } = burst(10, T0)
    expect(burst(10, T0 + 3_600_000, bucket).admitted).toBe(10)
  })

  it('refills nothing when the clock is behind the last update (another instance lags)', () => {
    const { bucket } = burst(10, T0)
    expect(takeRequest(bucket, 10, T0 - 30_000).ok).toBe(false)
    expect(takeRequest(bucket, 10, T0 + 6000).ok).toBe(true)
  })

  it('reports remaining requests and the time until full, as OpenAI does', () => {
    const c = takeRequest(undefined, 60, T0)
    expect(remaining(c.bucket.level)).toBe(59)
    expect(formatDuration(resetMs(c.bucket.level, 60))).toBe('1s')
    const ten = burst(10, T0).bucket!
    expect(remaining(ten.level)).toBe(0)
    expect(formatDuration(resetMs(ten.level, 10))).toBe('1m0s')
  })
})

describe('token bucket (TPM)', () => {
  it('admits while tokens are left, then debits the real tokens, going into debt', () => {
    const a = admitTokens(undefined, 1000, T0)
    expect(a.ok).toBe(true)
    const b = debitTokens(a.bucket, 1000, 2500, T0)
    expect(remaining(b.level)).toBe(0)
    const refused = admitTokens(b, 1000, T0)
    expect(refused.ok).toBe(false)
    // 1500 tokens of debt at 1000 per minute: 90 s until the level is positive again.
    expect(refused.retryMs).toBe(90_001)
    expect(admitTokens(b, 1000, T0 + 90_000).ok).toBe(false)
    expect(admitTokens(b, 1000, T0 + 90_001).ok).toBe(true)
    expect(formatDuration(resetMs(b.level, 1000))).toBe('2m30s')
  })

  it('admits while even one token is left (the answer may cost more)', () => {
    const b = debitTokens(undefined, 1000, 999, T0)
    expect(remaining(b.level)).toBe(1)
    expect(admitTokens(b, 1000, T0).ok).toBe(true)
    expect(admitTokens(debitTokens(b, 1000, 1, T0), 1000, T0).ok).toBe(false)
  })

  it('refills continuously: half a minute gives back half the limit', () => {
    const b = debitTokens(undefined, 1000, 1000, T0)
    expect(remaining(refillAt(b, 1000, T0 + 30_000))).toBe(500)
  })

  it('stays exact at large limits (10M TPM)', () => {
    let b: Bucket | undefined
    for (let i = 0; i < 1000; i++) b = debitTokens(b, 10_000_000, 9_999, T0 + i)
    expect(b!.level).toBe(10_000_000 * WINDOW_MS + 999 * 10_000_000 - 1000 * 9_999 * WINDOW_MS)
  })
})

function refillAt (b: Bucket, limit: number, now: number): number {
  return admitTokens(b, limit, now).bucket.level
}

describe('formatDuration (OpenAI x-ratelimit-reset-* format)', () => {
  it.each([
    [0, '0s'], [12, '12ms'], [999, '999ms'], [1000, '1s'], [1500, '1.5s'], [8640, '8.64s'],
    [60_000, '1m0s'], [90_001, '1m30.001s'], [360_000, '6m0s'], [3_600_000, '1h0m0s'],
    [5_430_000, '1h30m30s'], [0.4, '1ms']
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})
