import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/log.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { bufferedLedger } from '../../src/metering/ledger.js'
import { sqliteLedgerStore } from '../../src/metering/ledger-sqlite.js'
import type { UsageRecord } from '../../src/metering/record.js'
import { openSqlite } from '../../src/store/sqlite.js'
import { startGateway, tempDataDir, waitFor, type TestGateway } from '../helpers/gateway.js'
import { removeDir } from '../helpers/redis.js'
import { CHAT, HAND_USD, usage } from './helpers.js'

const at = (day: string): number => Date.parse(day + 'T12:00:00Z')

function rec (keyId: string, keyName: string, model: string, day: string, costNanos: number, over: Partial<UsageRecord> = {}): UsageRecord {
  return { keyId, keyName, model, label: model, route: '/v1/chat/completions', inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, reasoningTokens: 200, costNanos, cacheHit: false, savedNanos: 0, estimated: false, priced: true, latencyMs: 5, atMs: at(day), ...over }
}

/** Spend recorded earlier (past days), written into the data dir the gateway then opens. */
async function seed (dir: string): Promise<void> {
  const db = openSqlite(dir)
  const ledger = bufferedLedger(sqliteLedgerStore(db), { log: createLogger('silent'), metrics: createMetrics(undefined, { defaultMetrics: false }) })
  ledger.record(rec('k_a', 'alice', 'gpt-5.2-chat-latest', '2026-01-01', 1_000_000))
  ledger.record(rec('k_a', 'alice', 'gpt-5.2-chat-latest', '2026-01-01', 2_000_000))
  ledger.record(rec('k_a', 'alice', 'gpt-5-mini', '2026-01-02', 3_000_000))
  ledger.record(rec('k_b', 'bob', 'gpt-5.2-chat-latest', '2026-01-02', 4_000_000))
  ledger.record(rec('k_b', 'bob', 'gpt-5.2-chat-latest', '2026-01-03', 0, { cacheHit: true, savedNanos: 6_265_000 }))
  ledger.record(rec('k_b', 'bob', 'gpt-5.2-chat-latest', '2026-02-01', 5_000_000))
  await ledger.close()
  db.close()
}

describe('GET /admin/usage', () => {
  let gw: TestGateway
  let dir: string
  beforeAll(async () => {
    dir = tempDataDir()
    await seed(dir)
    gw = await startGateway({ DATA_DIR: dir })
  })
  afterAll(async () => {
    await gw.close()
    removeDir(dir)
  })

  it('groups by key, model and day within the dates given', async () => {
    const { status, body } = await usage(gw, '?from=2026-01-01&to=2026-01-31&group_by=key,model,day')
    expect(status).toBe(200)
    expect(body).toMatchObject({ object: 'list', total_cost_usd: 0.01 })
    expect(body.data).toEqual([
      { key_id: 'k_a', key_name: 'alice', model: 'gpt-5.2-chat-latest', day: '2026-01-01', requests: 2, input_tokens: 2000, cached_input_tokens: 1200, output_tokens: 1000, reasoning_tokens: 400, cost_usd: 0.003, cache_hits: 0, saved_usd: 0 },
      { key_id: 'k_a', key_name: 'alice', model: 'gpt-5-mini', day: '2026-01-02', requests: 1, input_tokens: 1000, cached_input_tokens: 600, output_tokens: 500, reasoning_tokens: 200, cost_usd: 0.003, cache_hits: 0, saved_usd: 0 },
      { key_id: 'k_b', key_name: 'bob', model: 'gpt-5.2-chat-latest', day: '2026-01-02', requests: 1, input_tokens: 1000, cached_input_tokens: 600, output_tokens: 500, reasoning_tokens: 200, cost_usd: 0.004, cache_hits: 0, saved_usd: 0 },
      { key_id: 'k_b', key_name: 'bob', model: 'gpt-5.2-chat-latest', day: '2026-01-03', requests: 1, input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, cost_usd: 0, cache_hits: 1, saved_usd: 0.006265 }
    ])
  })

  it('leaves out the fields not grouped by', async () => {
    const byKey = await usage(gw, '?from=2026-01-01&to=2026-12-31&group_by=key')
    expect(byKey.body.data.map((r) => [r.key_name, r.requests, r.cost_usd])).toEqual([['alice', 3, 0.006], ['bob', 3, 0.009]])
    expect(Object.keys(byKey.body.data[0]!)).toEqual(['key_id', 'key_name', 'requests', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens', 'cost_usd', 'cache_hits', 'saved_usd'])
    const byModel = await usage(gw, '?from=2026-01-01&to=2026-12-31&group_by=model')
    expect(byModel.body.data.map((r) => [r.model, r.requests])).toEqual([['gpt-5-mini', 1], ['gpt-5.2-chat-latest', 5]])
    expect(byModel.body.data[0]).not.toHaveProperty('key_id')
    const byDay = await usage(gw, '?from=2026-01-02&to=2026-01-03&group_by=day')
    expect(byDay.body.data.map((r) => [r.day, r.cost_usd, r.saved_usd])).toEqual([['2026-01-02', 0.007, 0], ['2026-01-03', 0, 0.006265]])
    const keyModel = await usage(gw, '?from=2026-01-01&to=2026-12-31&group_by=model,key')
    expect(keyModel.body.data).toHaveLength(3)
    const none = await usage(gw, '?from=2026-01-01&to=2026-12-31&group_by=')
    expect(none.body.data).toEqual([{ requests: 6, input_tokens: 5000, cached_input_tokens: 3000, output_tokens: 2500, reasoning_tokens: 1000, cost_usd: 0.015, cache_hits: 1, saved_usd: 0.006265 }])
    expect(none.body.total_cost_usd).toBe(0.015)
  })

  it('includes both ends of the date range', async () => {
    expect((await usage(gw, '?from=2026-01-02&to=2026-01-02&group_by=')).body.total_cost_usd).toBe(0.007)
    expect((await usage(gw, '?from=2026-02-01&to=2026-02-01&group_by=')).body.total_cost_usd).toBe(0.005)
    expect((await usage(gw, '?from=2025-01-01&to=2025-12-31')).body).toEqual({ object: 'list', data: [], total_cost_usd: 0 })
  })

  it('defaults to this month up to today, grouped by key, model and day', async () => {
    await gw.client().chat.completions.create(CHAT)
    const today = new Date().toISOString().slice(0, 10)
    await waitFor(async () => (await usage(gw)).body.data.length === 1)
    const { body } = await usage(gw)
    expect(body.data[0]).toMatchObject({ key_name: 'test', model: 'gpt-5.2-chat-latest', day: today, requests: 1, cost_usd: HAND_USD })
    expect(body.total_cost_usd).toBe(HAND_USD)
  })

  it('answers 400 for bad dates, bad groups and reversed ranges, in OpenAI shape', async () => {
    for (const [q, param] of [['?from=2026-13-01', 'from'], ['?to=yesterday', 'to'], ['?group_by=key,user', 'group_by'], ['?from=2026-02-01&to=2026-01-01', 'from'], ['?from=2026-02-30', 'from']] as const) {
      const { status, body } = await usage(gw, q)
      expect(status, q).toBe(400)
      expect(body.error?.param, q).toBe(param)
    }
  })

  it('wants the admin key', async () => {
    const res = await fetch(`${gw.url}/admin/usage`, { headers: { authorization: 'Bearer sk-test-0123456789abcdefghijklmnopqrstuvwxyz' } })
    expect(res.status).toBe(401)
  })
})

describe('usage rows of a renamed key', () => {
  it('show the latest name and sort by model when keys are not grouped', async () => {
    const dir = tempDataDir()
    const db = openSqlite(dir)
    const ledger = bufferedLedger(sqliteLedgerStore(db), { log: createLogger('silent'), metrics: createMetrics(undefined, { defaultMetrics: false }) })
    ledger.record(rec('k_z', 'old-name', 'b-model', '2026-03-01', 1))
    ledger.record(rec('k_z', 'new-name', 'a-model', '2026-03-02', 2))
    ledger.record(rec('k_a', 'aaa', 'b-model', '2026-03-02', 4))
    await ledger.close()
    db.close()
    const gw = await startGateway({ DATA_DIR: dir })
    try {
      const byKey = await usage(gw, '?from=2026-03-01&to=2026-03-31&group_by=key,day')
      expect(byKey.body.data.map((r) => [r.day, r.key_name])).toEqual([['2026-03-01', 'new-name'], ['2026-03-02', 'aaa'], ['2026-03-02', 'new-name']])
      const byModel = await usage(gw, '?from=2026-03-01&to=2026-03-31&group_by=model')
      expect(byModel.body.data.map((r) => [r.model, r.cost_usd])).toEqual([['a-model', 2e-9], ['b-model', 5e-9]])
    } finally {
      await gw.close()
      removeDir(dir)
    }
  })
})
