import { describe, expect, it } from 'vitest'
import { costNanos, formatUsd, nanosToUsd, usdPerMillionToNanos } from '../../src/metering/money.js'
import { createPriceTable, priceUsage } from '../../src/metering/pricing.js'

const HAND = { input: 1000, cached: 600, output: 500, reasoning: 200 }

describe('pricing', () => {
  it('prices 1,000 input (600 cached) and 500 output (200 reasoning) at exactly $0.006265', () => {
    // 400 × 1.40 + 600 × 0.175 + 500 × 11.20 = 560 + 105 + 5600 = 6265 USD per 1M → 0.006265 USD
    const { price } = createPriceTable({}).resolve('gpt-5.2-chat-latest')
    expect(priceUsage(HAND, price!)).toBe(6_265_000)
    expect(formatUsd(6_265_000)).toBe('0.006265')
    expect(nanosToUsd(6_265_000)).toBe(0.006265)
  })

  it('converts USD per 1M to exact integers (no float drift)', () => {
    expect(usdPerMillionToNanos(1.4)).toBe(1_400_000_000n)
    expect(usdPerMillionToNanos(0.175)).toBe(175_000_000n)
    expect(usdPerMillionToNanos(11.2)).toBe(11_200_000_000n)
    expect(usdPerMillionToNanos(0.1 + 0.2)).toBe(300_000_000n)
    expect(usdPerMillionToNanos(0)).toBe(0n)
    expect(usdPerMillionToNanos(15000)).toBe(15_000_000_000_000n)
  })

  it('rounds once per request, half up, to a whole nano-dollar', () => {
    // 1 token at $0.0005 per 1M = 0.0005 nano → 0; 1 token at $0.0015 per 1M = 1.5 nano → 2
    expect(costNanos([[1, usdPerMillionToNanos(0.0005)]])).toBe(1)
    expect(costNanos([[1, usdPerMillionToNanos(0.0004)]])).toBe(0)
    expect(costNanos([[1, usdPerMillionToNanos(0.0015)]])).toBe(2)
    // Three classes of 0.4 nano each sum to 1.2 before the one rounding → 1, not 0.
    const p = usdPerMillionToNanos(0.0004)
    expect(costNanos([[1, p], [1, p], [1, p]])).toBe(1)
  })

  it('stays exact for huge requests (bigint products)', () => {
    // 50M output tokens at $600 per 1M = $30,000
    expect(costNanos([[50_000_000, usdPerMillionToNanos(600)]])).toBe(30_000 * 1e9)
  })

  it('formats nano-dollars as exact decimal USD', () => {
    expect(formatUsd(0)).toBe('0')
    expect(formatUsd(1)).toBe('0.000000001')
    expect(formatUsd(1_500_000_000)).toBe('1.5')
    expect(formatUsd(123_456_789_012)).toBe('123.456789012')
  })

  it('lets the config replace defaults and add models', () => {
    const t = createPriceTable({ 'gpt-5.2-chat-latest': { input: 2, output: 4 }, 'gpt-5-mini': { input: 0.25, cached_input: 0.025, output: 2 } })
    // No cached price given: cached input costs the input price.
    expect(priceUsage(HAND, t.resolve('gpt-5.2-chat-latest').price!)).toBe(2000 * 1000 + 4000 * 500)
    expect(priceUsage(HAND, t.resolve('gpt-5-mini').price!)).toBe(400 * 250 + 600 * 25 + 500 * 2000)
  })

  it('finds dated snapshots and * patterns; the most specific pattern wins', () => {
    const t = createPriceTable({ 'gpt-5*': { input: 1, output: 1 }, 'gpt-5-nano*': { input: 0.05, output: 0.4 } })
    expect(t.resolve('gpt-5.2-chat-latest-2026-01-01')).toMatchObject({ model: 'gpt-5.2-chat-latest-2026-01-01', label: 'gpt-5.2-chat-latest' })
    expect(priceUsage(HAND, t.resolve('gpt-5.2-chat-latest-2026-01-01').price!)).toBe(6_265_000)
    expect(t.resolve('gpt-5-nano-2025-08-07').label).toBe('gpt-5-nano*')
    expect(t.resolve('gpt-5-turbo-x').label).toBe('gpt-5*')
    expect(t.resolve('claude-sonnet-9')).toEqual({ model: 'claude-sonnet-9', label: 'other', price: undefined })
    expect(t.resolve(undefined).label).toBe('other')
  })

  it('meters a model under its alias target, exact or by pattern', () => {
    const t = createPriceTable({}, { 'gpt-5.2': 'gpt-5.2-chat-latest', 'team-*': 'gpt-5.2-chat-latest' })
    expect(t.resolve('gpt-5.2')).toMatchObject({ model: 'gpt-5.2-chat-latest', label: 'gpt-5.2-chat-latest' })
    expect(t.resolve('team-alpha').model).toBe('gpt-5.2-chat-latest')
    expect(priceUsage(HAND, t.resolve('gpt-5.2').price!)).toBe(6_265_000)
  })

  it('never lets cached exceed input when pricing', () => {
    const { price } = createPriceTable({}).resolve('gpt-5.2-chat-latest')
    expect(priceUsage({ input: 100, cached: 500, output: 0, reasoning: 0 }, price!)).toBe(100 * 175)
  })
})
