import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/metrics/metrics.js'
import { usageMeters } from '../../src/metering/meters.js'
import type { UsageRecord } from '../../src/metering/record.js'

const base: UsageRecord = { keyId: 'k', keyName: 'alice', model: 'gpt-5.2-chat-latest', label: 'gpt-5.2-chat-latest', route: '/v1/chat/completions', inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, reasoningTokens: 200, costNanos: 6_265_000, cacheHit: false, savedNanos: 0, estimated: false, priced: true, latencyMs: 1, atMs: 0 }

async function values (metrics: ReturnType<typeof createMetrics>, name: string): Promise<Array<{ labels: Record<string, string | number>, value: number }>> {
  return (await metrics.registry.getSingleMetric(name)!.get()).values as never
}

describe('usage counters', () => {
  it('count tokens by type, cost, savings and estimates with the ledger meaning', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false })
    const meters = usageMeters(metrics)
    meters.observe(base, undefined)
    meters.observe(base, undefined)
    meters.observe({ ...base, cacheHit: true, costNanos: 0, savedNanos: 6_265_000 }, undefined)
    meters.observe({ ...base, estimated: true, inputTokens: 10, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0, costNanos: 14 }, 'client_abort')
    const tokens = Object.fromEntries((await values(metrics, 'gateway_tokens_total')).map((v) => [v.labels.type, v.value]))
    // The hit adds no tokens: they count what the upstream processed.
    expect(tokens).toEqual({ input: 2010, cached_input: 1200, output: 1000, reasoning: 400 })
    expect((await values(metrics, 'gateway_cost_usd_total'))[0]!.value).toBeCloseTo(0.01253 + 0.000000014, 15)
    expect((await values(metrics, 'gateway_cache_saved_usd_total'))[0]).toMatchObject({ labels: { model: 'gpt-5.2-chat-latest', key: 'alice' }, value: 0.006265 })
    expect((await values(metrics, 'gateway_estimated_usage_total'))[0]).toMatchObject({ labels: { reason: 'client_abort' }, value: 1 })
  })

  it('names unpriced models, up to 100 of them, then says other', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false })
    const meters = usageMeters(metrics)
    for (let i = 0; i < 150; i++) meters.observe({ ...base, model: `m${i}`, label: 'other', priced: false, costNanos: 0 }, undefined)
    meters.observe({ ...base, model: 'm0', label: 'other', priced: false, costNanos: 0 }, undefined)
    // A request with no tokens at all is not "unpriced usage".
    meters.observe({ ...base, model: 'empty', label: 'other', priced: false, inputTokens: 0, outputTokens: 0, costNanos: 0 }, undefined)
    const unpriced = await values(metrics, 'gateway_unpriced_requests_total')
    expect(unpriced).toHaveLength(101)
    expect(unpriced.find((v) => v.labels.model === 'm0')!.value).toBe(2)
    expect(unpriced.find((v) => v.labels.model === 'other')!.value).toBe(50)
    expect(unpriced.reduce((n, v) => n + v.value, 0)).toBe(151)
  })
})
