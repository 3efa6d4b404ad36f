import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { configFrom, GatewayConfigError, loadConfig } from '../../src/config/load.js'
import { scaledDecimal } from '../../src/metering/decimal.js'
import { DEFAULT_PRICES } from '../../src/metering/default-prices.js'
import { priceEntrySchema } from '../../src/metering/price-entry.js'
import { createPriceTable, priceBatchUsage, priceUsage } from '../../src/metering/pricing.js'

const tmpFile = (name: string, content: unknown): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-prices-')), name)
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
  return path
}

/** An excerpt in the shape of LiteLLM's model_prices_and_context_window.json. */
const LITELLM = {
  sample_spec: { max_tokens: 'LEGACY parameter. set to max_output_tokens if provider specifies it.', max_output_tokens: 'max output tokens, if the provider specifies it.', input_cost_per_token: 0.0, output_cost_per_token: 0.0, litellm_provider: 'one of https://docs.litellm.ai/docs/providers', mode: 'one of: chat, embedding, completion, image_generation' },
  'gpt-4o': { max_tokens: 16384, max_input_tokens: 128000, max_output_tokens: 16384, input_cost_per_token: 2.5e-06, output_cost_per_token: 1e-05, input_cost_per_token_batches: 1.25e-06, output_cost_per_token_batches: 5e-06, cache_read_input_token_cost: 1.25e-06, litellm_provider: 'openai', mode: 'chat', supports_function_calling: true },
  'claude-sonnet-4-5': { max_output_tokens: 64000, input_cost_per_token: 3e-06, output_cost_per_token: 1.5e-05, cache_creation_input_token_cost: 3.75e-06, cache_read_input_token_cost: 3e-07, input_cost_per_token_above_200k_tokens: 6e-06, litellm_provider: 'anthropic', mode: 'chat' },
  'text-embedding-3-small': { max_input_tokens: 8191, input_cost_per_token: 2e-08, output_cost_per_token: 0.0, litellm_provider: 'openai', mode: 'embedding' },
  'dall-e-3': { input_cost_per_pixel: 3.81469e-08, output_cost_per_pixel: 0.0, litellm_provider: 'openai', mode: 'image_generation' },
  'whisper-1': { input_cost_per_second: 0.0001, output_cost_per_second: 0.0001, litellm_provider: 'openai', mode: 'audio_transcription' },
  'odd-model': { input_cost_per_token: 1.234567e-10, output_cost_per_token: 7e-7, litellm_provider: 'custom' }
}

describe('exact decimal prices', () => {
  it.each([
    [1.4e-6, 15, 1_400_000_000n],
    ['0.0000014', 15, 1_400_000_000n],
    [2.5e-6, 15, 2_500_000_000n],
    [1e-5, 15, 10_000_000_000n],
    [3e-7, 15, 300_000_000n],
    [1.234567e-10, 15, 123_457n], // 123456.7 rounds half up
    [1.4, 9, 1_400_000_000n],
    ['1.40', 9, 1_400_000_000n],
    [0.175, 9, 175_000_000n],
    [11.2, 9, 11_200_000_000n],
    [0.1 + 0.2, 9, 300_000_000n],
    [0, 15, 0n],
    ['.5', 9, 500_000_000n],
    [5e-10, 9, 1n],
    [4e-10, 9, 0n],
    [1e21, 0, 1_000_000_000_000_000_000_000n]
  ] as Array<[number | string, number, bigint]>)('%s × 10^%i = %s', (v, scale, out) => {
    expect(scaledDecimal(v, scale)).toBe(out)
  })

  it('refuses what is not a price', () => {
    for (const bad of [-1, Number.NaN, Infinity, 'abc', '', '1,5']) expect(() => scaledDecimal(bad, 9)).toThrow(RangeError)
  })

  it('a per-token price converts exactly where float multiplication would not', () => {
    expect(1.2e-7 * 1e15).not.toBe(120_000_000)
    expect(priceEntrySchema.parse({ input_cost_per_token: 1.2e-7, output_cost_per_token: 1.4e-6 })).toMatchObject({ input: 120_000_000n, output: 1_400_000_000n, cachedInput: 120_000_000n })
  })
})

describe('pricing entries in either format', () => {
  it('LiteLLM entries: per-token prices, cache reads, batch prices, output cap; other fields ignored', () => {
    expect(priceEntrySchema.parse(LITELLM['gpt-4o'])).toEqual({ input: 2_500_000_000n, cachedInput: 1_250_000_000n, output: 10_000_000_000n, batchInput: 1_250_000_000n, batchOutput: 5_000_000_000n, maxOutputTokens: 16384 })
    expect(priceEntrySchema.parse(LITELLM['text-embedding-3-small'])).toEqual({ input: 20_000_000n, cachedInput: 20_000_000n, output: 0n })
  })

  it('ours: USD per 1M, with max_output_tokens and batch prices, numbers or decimal strings', () => {
    expect(priceEntrySchema.parse({ input: 1.4, cached_input: '0.175', output: 11.2, batch_input: 0.7, batch_output: '5.60', max_output_tokens: 16384 }))
      .toEqual({ input: 1_400_000_000n, cachedInput: 175_000_000n, output: 11_200_000_000n, batchInput: 700_000_000n, batchOutput: 5_600_000_000n, maxOutputTokens: 16384 })
    expect(priceEntrySchema.safeParse({ input: 1, output: 2, typo: 3 }).success).toBe(false)
    expect(priceEntrySchema.safeParse({ input: -1, output: 2 }).success).toBe(false)
    expect(priceEntrySchema.safeParse({ input_cost_per_token: 'x' }).success).toBe(false)
  })

  it('a request priced from a LiteLLM entry costs what the hand computation says', () => {
    const table = createPriceTable(loadConfig({ PRICING_FILE: tmpFile('prices.json', LITELLM) }).pricing)
    const usage = { input: 1000, cached: 600, output: 500, reasoning: 0 }
    // 400 × 2.5 + 600 × 1.25 + 500 × 10 per 1M = 1000 + 750 + 5000 = 6750 → $0.00675
    expect(priceUsage(usage, table.resolve('gpt-4o-2024-08-06').price!)).toBe(6_750_000)
    // Batch: 400 × 1.25 + 600 × 1.25 + 500 × 5 = 500 + 750 + 2500 = 3750 → $0.00375
    expect(priceBatchUsage(usage, table.resolve('gpt-4o').price!)).toBe(3_750_000)
    expect(table.resolve('gpt-4o').price?.maxOutputTokens).toBe(16384)
  })
})

describe('PRICING_FILE and the default table', () => {
  it('reads LiteLLM\'s file as published: entries without token prices and the sample are skipped', () => {
    const config = loadConfig({ PRICING_FILE: tmpFile('prices.json', LITELLM) })
    expect(Object.keys(config.pricing).sort()).toEqual(['claude-sonnet-4-5', 'gpt-4o', 'odd-model', 'text-embedding-3-small'])
    expect(config.pricing['odd-model']!.input).toBe(123_457n)
  })

  it('the config file\'s own pricing wins over PRICING_FILE, which wins over the defaults', () => {
    const config = loadConfig({ PRICING_FILE: tmpFile('prices.yaml', 'gpt-4o:\n  input: 9\n  output: 9\nclaude-sonnet-4-5:\n  input_cost_per_token: 1e-6\n  output_cost_per_token: 2e-6\n') }, { pricing: { 'gpt-4o': { input: 1, output: 1 } } })
    const table = createPriceTable(config.pricing)
    expect(table.resolve('gpt-4o').price?.input).toBe(1_000_000_000n)
    expect(table.resolve('claude-sonnet-4-5').price?.input).toBe(1_000_000_000n)
    expect(table.resolve('gpt-4.1').price?.input).toBe(2_000_000_000n)
  })

  it('a bad file stops start-up with one line naming the setting and the model', () => {
    expect(() => loadConfig({ PRICING_FILE: tmpFile('bad.json', { 'my-model': { input: 'cheap', output: 1 } }) })).toThrow(GatewayConfigError)
    expect(() => loadConfig({ PRICING_FILE: tmpFile('bad.json', { 'my-model': { input: 'cheap', output: 1 } }) })).toThrow(/^PRICING_FILE: my-model\.input: /)
    expect(() => loadConfig({ PRICING_FILE: '/nonexistent/prices.json' })).toThrow(/^PRICING_FILE: cannot read/)
    expect(() => loadConfig({ PRICING_FILE: tmpFile('list.json', '[1]') })).toThrow(/must hold an object/)
  })

  it('the config file takes LiteLLM entries inline too', () => {
    const config = configFrom({ pricing: { 'my-model': { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6, max_output_tokens: 100 } } })
    expect(createPriceTable(config.pricing).resolve('my-model').price).toMatchObject({ input: 1_000_000_000n, output: 2_000_000_000n, maxOutputTokens: 100 })
  })

  it('the defaults price the common models, keep the documented gpt-5.2-chat-latest price, and half-price batches exactly', () => {
    const table = createPriceTable({})
    for (const m of ['gpt-5.2-chat-latest', 'gpt-5', 'gpt-5-mini', 'gpt-4.1-mini', 'gpt-4o-mini', 'o4-mini', 'claude-sonnet-4-5-20250929', 'gemini-2.5-flash', 'deepseek-chat', 'text-embedding-3-small', 'omni-moderation-latest']) {
      expect(table.resolve(m).price, m).toBeDefined()
    }
    expect(priceUsage({ input: 1000, cached: 600, output: 500, reasoning: 200 }, table.resolve('gpt-5.2-chat-latest').price!)).toBe(6_265_000)
    expect(DEFAULT_PRICES['gpt-4o-mini']).toMatchObject({ batchInput: 75_000_000n, batchOutput: 300_000_000n, maxOutputTokens: 16384 })
    expect(DEFAULT_PRICES['gpt-4.1-nano']).toMatchObject({ batchInput: 50_000_000n, batchOutput: 200_000_000n })
    expect(table.resolve('dall-e-3').price).toBeUndefined()
  })
})
