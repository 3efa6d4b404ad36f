import { describe, expect, it } from 'vitest'
import { createPriceTable } from '../../src/metering/pricing.js'
import { admits, BYTES_PER_TOKEN, claimOf, inputEstimate, outputCap, outputReservation, requestedMaxOutput } from '../../src/ratelimit/reservation.js'
import { periodField } from '../../src/ratelimit/admission.js'
import { tpmRetryMs } from '../../src/ratelimit/admission-memory.js'

describe('input estimate', () => {
  it('is the JSON body length over the documented ratio, rounded up', () => {
    expect(BYTES_PER_TOKEN).toBe(4)
    expect(inputEstimate(0, true)).toBe(0)
    expect(inputEstimate(1, true)).toBe(1)
    expect(inputEstimate(1000, true)).toBe(250)
    expect(inputEstimate(1001, true)).toBe(251)
  })

  it('counts a non-JSON body (multipart upload) as no input', () => {
    expect(inputEstimate(5_000_000, false)).toBe(0)
  })

  it('does constant work: a 32 MiB body costs the same as a small one', () => {
    expect(inputEstimate(32 * 1024 * 1024, true)).toBe(8 * 1024 * 1024)
  })
})

describe('output reservation', () => {
  it('reads max_completion_tokens, max_tokens, max_output_tokens (first positive integer wins)', () => {
    expect(requestedMaxOutput({ max_completion_tokens: 100, max_tokens: 50 })).toBe(100)
    expect(requestedMaxOutput({ max_tokens: 50 })).toBe(50)
    expect(requestedMaxOutput({ max_output_tokens: 70 })).toBe(70)
    expect(requestedMaxOutput({ max_tokens: 0, max_output_tokens: 70 })).toBe(70)
    expect(requestedMaxOutput({ max_tokens: '50' })).toBeUndefined()
    expect(requestedMaxOutput({ max_tokens: 1.5 })).toBeUndefined()
    expect(requestedMaxOutput({ max_tokens: -3 })).toBeUndefined()
    expect(requestedMaxOutput({})).toBeUndefined()
    expect(requestedMaxOutput(undefined)).toBeUndefined()
  })

  it('caps the request at the model max; without a request max uses the model max, else the fallback', () => {
    expect(outputReservation(500, 128_000, 4096)).toBe(500)
    expect(outputReservation(500_000, 128_000, 4096)).toBe(128_000)
    expect(outputReservation(10_000, undefined, 4096)).toBe(10_000)
    expect(outputReservation(undefined, 128_000, 4096)).toBe(128_000)
    expect(outputReservation(undefined, undefined, 4096)).toBe(4096)
  })

  it('reads the model cap from the pricing entry that priced the model', () => {
    const pricing = { 'capped-*': { input: 1, output: 2, max_output_tokens: 1000 }, plain: { input: 1, output: 2 } }
    const prices = createPriceTable(pricing)
    expect(outputCap(prices.resolve('capped-mini'))).toBe(1000)
    expect(outputCap(prices.resolve('plain'))).toBeUndefined()
    expect(outputCap(prices.resolve('unknown-model'))).toBeUndefined()
  })
})

describe('worst-case cost', () => {
  const prices = createPriceTable({})
  it('prices every input token at the full input price and the output at the output price, in nano-dollars', () => {
    // 100 × 1.40 + 500 × 11.20 per 1M tokens = $0.00574
    expect(claimOf(100, 500, prices.resolve('gpt-5.2-chat-latest'))).toEqual({ tokens: 600, nanos: 5_740_000 })
  })
  it('is 0 for a model without a price (its tokens still count)', () => {
    expect(claimOf(100, 500, prices.resolve('no-such-model'))).toEqual({ tokens: 600, nanos: 0 })
  })
})

describe('admission rule', () => {
  it('admits while spend + open + claim fit', () => {
    expect(admits({ used: 4, open: 3, claim: 3, limit: 10 })).toBe(true)
    expect(admits({ used: 4, open: 3, claim: 4, limit: 10 })).toBe(false)
  })
  it('admits anything below the limit when nothing else is open (one request larger than the budget runs once)', () => {
    expect(admits({ used: 0, open: 0, claim: 50, limit: 10 })).toBe(true)
    expect(admits({ used: 9, open: 0, claim: 50, limit: 10 })).toBe(true)
    expect(admits({ used: 10, open: 0, claim: 0, limit: 10 })).toBe(false)
    expect(admits({ used: 9, open: 1, claim: 50, limit: 10 })).toBe(false)
  })
  it('never lets a sequence of concurrent claims pass the limit by more than one claim', () => {
    // Claims arrive, none settles: the open total is bounded by limit + one claim.
    for (const claim of [1, 3, 7, 10, 25]) {
      let open = 0
      for (let i = 0; i < 100; i++) if (admits({ used: 0, open, claim, limit: 10 })) open += claim
      expect(open).toBeLessThanOrEqual(10 + claim)
    }
  })
})

describe('helpers', () => {
  it('names the spend field of a period', () => {
    const now = Date.UTC(2026, 11, 1, 20, 0, 0)
    expect(periodField('day', now)).toBe('d:2026-12-01')
    expect(periodField('month', now)).toBe('m:2026-12')
    expect(periodField('total', now)).toBe('t')
  })
  it('tpm retry: a refill when nothing is open, else until the open tokens and the claim fit (at most a minute)', () => {
    expect(tpmRetryMs(-60_000 * 10, 0, 5, 10)).toBe(60_001)
    expect(tpmRetryMs(100, 0, 5, 10)).toBe(0)
    expect(tpmRetryMs(0, 100, 100, 1000)).toBe(12_000)
    expect(tpmRetryMs(0, 1_000_000, 1, 10)).toBe(60_000)
  })
})
