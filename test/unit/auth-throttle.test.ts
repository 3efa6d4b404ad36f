import { describe, expect, it } from 'vitest'
import { admitThrottled, AuthThrottle } from '../../src/admin/auth-throttle.js'
import { GatewayError } from '../../src/errors.js'

function clock (): { now: () => number, advance: (ms: number) => void } {
  let t = 1_000_000
  return { now: () => t, advance: (ms) => { t += ms } }
}

describe('AuthThrottle', () => {
  it('allows ten failures in a window, then refuses every attempt until the window ends', () => {
    const c = clock()
    const t = new AuthThrottle({ now: c.now })
    for (let i = 0; i < 10; i++) {
      expect(t.blockedFor('10.0.0.1')).toBe(0)
      t.fail('10.0.0.1')
      c.advance(1_000)
    }
    // The window started at the first failure, 10 s ago.
    expect(t.blockedFor('10.0.0.1')).toBe(50_000)
    expect(t.blockedFor('10.0.0.2')).toBe(0)
    c.advance(49_999)
    expect(t.blockedFor('10.0.0.1')).toBe(1)
    c.advance(1)
    expect(t.blockedFor('10.0.0.1')).toBe(0)
    // A new window counts from zero.
    t.fail('10.0.0.1')
    expect(t.blockedFor('10.0.0.1')).toBe(0)
  })

  it('forgets failures older than the window', () => {
    const c = clock()
    const t = new AuthThrottle({ now: c.now, maxFailures: 3, windowMs: 100 })
    t.fail('a'); t.fail('a')
    c.advance(100)
    t.fail('a'); t.fail('a')
    expect(t.blockedFor('a')).toBe(0)
    t.fail('a')
    expect(t.blockedFor('a')).toBe(100)
  })

  it('holds at most maxAddresses, forgetting the oldest window first', () => {
    const c = clock()
    const t = new AuthThrottle({ now: c.now, maxFailures: 1, maxAddresses: 3 })
    for (const a of ['a', 'b', 'c', 'd']) { t.fail(a); c.advance(1) }
    expect(t.size).toBe(3)
    expect(t.blockedFor('a')).toBe(0)
    expect(t.blockedFor('b')).toBeGreaterThan(0)
    expect(t.blockedFor('d')).toBeGreaterThan(0)
    for (let i = 0; i < 50_000; i++) t.fail(`x${i}`)
    expect(t.size).toBe(3)
  })
})

describe('admitThrottled', () => {
  it('counts failures, then refuses even the right secret with 429 and a retry-after', () => {
    const c = clock()
    const t = new AuthThrottle({ now: c.now })
    const checked: boolean[] = []
    const attempt = (right: boolean): boolean => admitThrottled(t, '10.0.0.9', () => { checked.push(right); return right })
    for (let i = 0; i < 10; i++) expect(attempt(false)).toBe(false)
    expect(attempt.bind(null, true)).toThrow(GatewayError)
    let refused: GatewayError | undefined
    try { attempt(true) } catch (err) { refused = err as GatewayError }
    expect(refused?.status).toBe(429)
    expect(refused?.code).toBe('GW_ERR_ADMIN_THROTTLED')
    expect(refused?.headers['retry-after']).toBe('60')
    // The refused attempts never reached the check.
    expect(checked).toHaveLength(10)
    c.advance(60_000)
    expect(attempt(true)).toBe(true)
  })

  it('does not count a success', () => {
    const t = new AuthThrottle()
    for (let i = 0; i < 100; i++) expect(admitThrottled(t, 'a', () => true)).toBe(true)
    expect(t.size).toBe(0)
  })
})
