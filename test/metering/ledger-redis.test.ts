import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configFrom } from '../../src/config/load.js'
import { createLogger } from '../../src/log.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { bufferedLedger } from '../../src/metering/ledger.js'
import { redisLedgerStore } from '../../src/metering/ledger-redis.js'
import type { UsageRecord } from '../../src/metering/record.js'
import { startMockUpstream } from '../../src/mock/upstream.js'
import { createRedis, redisReady, type RedisClient } from '../../src/store/redis.js'
import { startGateway, startGatewayPair, waitFor, type GatewayPair, type TestGateway } from '../helpers/gateway.js'
import { startRedis, startRedisCluster, type PrivateCluster, type PrivateRedis } from '../helpers/redis.js'
import { CHAT, HAND_USD, usage } from './helpers.js'

const NOW = Date.parse('2026-11-29T12:00:00Z')
const DAY = 86_400_000

function rec (i: number, over: Partial<UsageRecord> = {}): UsageRecord {
  return { keyId: `key_${i % 7}`, keyName: `name_${i % 7}`, model: i % 2 === 0 ? 'gpt-5.2-chat-latest' : 'model:with:colons', label: 'x', route: '/v1/chat/completions', inputTokens: i, cachedInputTokens: 0, outputTokens: 2 * i, reasoningTokens: 0, costNanos: 1000 + i * 37, cacheHit: false, savedNanos: 0, estimated: i % 10 === 0, priced: true, latencyMs: 1, atMs: NOW - (i % 45) * DAY, ...over }
}

/** The same contract on one Redis and on a 3-master Cluster. */
function ledgerContract (name: string, env: () => Record<string, string>) {
  describe(`Redis ledger on ${name}`, () => {
    let redis: RedisClient
    const log = createLogger('silent')
    beforeAll(async () => {
      redis = createRedis(configFrom(env()))!
      await redisReady(redis)
    })
    afterAll(async () => { await redis.quit() })

    it('sums 10,000 records exactly and reads day, month and total spend per key', async () => {
      const ledger = bufferedLedger(redisLedgerStore(redis), { log, metrics: createMetrics(undefined, { defaultMetrics: false }), flushMs: 5 })
      let total = 0
      const perKey = new Map<string, { day: number, month: number, total: number }>()
      for (let i = 0; i < 10_000; i++) {
        const r = rec(i)
        ledger.record(r)
        total += r.costNanos
        const k = perKey.get(r.keyId) ?? { day: 0, month: 0, total: 0 }
        const d = new Date(r.atMs).toISOString()
        if (d.startsWith('2026-11-29')) k.day += r.costNanos
        if (d.startsWith('2026-11')) k.month += r.costNanos
        k.total += r.costNanos
        perKey.set(r.keyId, k)
        if (i % 2500 === 0) await ledger.flush()
      }
      await ledger.close()
      const rows = await ledger.rows('2000-01-01', '2100-01-01')
      expect(rows.reduce((n, r) => n + r.costNanos, 0)).toBe(total)
      expect(rows.reduce((n, r) => n + r.requests, 0)).toBe(10_000)
      expect(rows.reduce((n, r) => n + r.estimated, 0)).toBe(1000)
      expect(new Set(rows.map((r) => r.model))).toEqual(new Set(['gpt-5.2-chat-latest', 'model:with:colons']))
      for (const [keyId, want] of perKey) {
        expect(await ledger.spentNanos(keyId, 'day', NOW)).toBe(want.day)
        expect(await ledger.spentNanos(keyId, 'month', NOW)).toBe(want.month)
        expect(await ledger.spentNanos(keyId, 'total', NOW)).toBe(want.total)
      }
    })

    it('applies a retried batch once', async () => {
      const store = redisLedgerStore(redis)
      const row = { keyId: 'retry', keyName: 'r', model: 'm', day: '2026-11-29', requests: 1, inputTokens: 1, cachedInputTokens: 0, outputTokens: 1, reasoningTokens: 0, costNanos: 99, cacheHits: 0, savedNanos: 0, estimated: 0 }
      await store.write([row], 'batch-1')
      await store.write([row], 'batch-1') // the answer was lost; the retry must not count twice
      await store.write([row], 'batch-2')
      expect(await store.spent('retry', 'total', NOW)).toBe(198)
    })
  })
}

describe('Redis', () => {
  let server: PrivateRedis
  beforeAll(async () => { server = await startRedis() })
  afterAll(async () => { await server.stop() })
  ledgerContract('one node', () => ({ REDIS_URL: server.url }))
})

describe('Redis Cluster', () => {
  let cluster: PrivateCluster
  beforeAll(async () => { cluster = await startRedisCluster() })
  afterAll(async () => { await cluster.stop() })
  ledgerContract('a 3-master cluster', () => ({ REDIS_CLUSTER_NODES: cluster.nodesEnv }))

  it('two gateway instances on the cluster read the same spend', async () => {
    const mock = await startMockUpstream()
    const a = await startGateway({ REDIS_CLUSTER_NODES: cluster.nodesEnv }, {}, mock)
    const b = await startGateway({ REDIS_CLUSTER_NODES: cluster.nodesEnv }, {}, mock)
    try {
      const before = (await usage(b, '?group_by=')).body.total_cost_usd
      await a.client().chat.completions.create(CHAT)
      await b.client().chat.completions.create(CHAT)
      await waitFor(async () => Math.abs((await usage(a, '?group_by=')).body.total_cost_usd - before - 2 * HAND_USD) < 1e-12)
      await waitFor(async () => Math.abs((await usage(b, '?group_by=')).body.total_cost_usd - before - 2 * HAND_USD) < 1e-12)
    } finally {
      await a.close()
      await b.close()
      await mock.close()
    }
  })
})

describe('two gateways on one Redis', () => {
  let server: PrivateRedis
  let a: TestGateway
  let b: TestGateway
  let pair: GatewayPair
  beforeAll(async () => {
    server = await startRedis()
    pair = await startGatewayPair({ REDIS_URL: server.url })
    ;({ a, b } = pair)
  })
  afterAll(async () => {
    await pair.close()
    await server.stop()
  })

  it('share one ledger: spend through one is seen by the other', async () => {
    await a.client().chat.completions.create(CHAT)
    const stream = await a.client().chat.completions.create({ ...CHAT, stream: true })
    for await (const chunk of stream) expect(chunk.object).toBe('chat.completion.chunk')
    await waitFor(async () => (await usage(b, '?group_by=key,model')).body.total_cost_usd === 2 * HAND_USD)
    const { body } = await usage(b, '?group_by=key,model')
    expect(body.data).toEqual([expect.objectContaining({ key_name: 'test', model: 'gpt-5.2-chat-latest', requests: 2, input_tokens: 2000 })])
  })

  it('loses no spend over a Redis outage: answers keep flowing, spend is written when Redis is back', async () => {
    await server.stop()
    for (let i = 0; i < 3; i++) {
      const r = await a.client().chat.completions.create(CHAT).withResponse()
      expect(r.response.headers.get('x-gateway-cost-usd')).toBe('0.006265')
    }
    expect((await usage(a)).status).toBe(503)
    // The private Redis keeps no data across a restart: it comes back empty, so what it
    // then holds is exactly the spend buffered during the outage.
    await server.restart()
    let seen: unknown
    await waitFor(async () => {
      const { status, body } = await usage(b, '?group_by=')
      seen = body
      return status === 200 && body.total_cost_usd === 3 * HAND_USD
    }, 30_000, 200).catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(seen)}`) })
    expect((await usage(b, '?group_by=')).body.data[0]).toMatchObject({ requests: 3, input_tokens: 3000 })
  })
})
