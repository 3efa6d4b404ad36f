import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI, { APIError, RateLimitError } from 'openai'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { configFrom } from '../../src/config/load.js'
import type { BudgetPeriod } from '../../src/config/schema.js'
import { createDeps } from '../../src/deps.js'
import { createLogger } from '../../src/log.js'
import type { SpendReader } from '../../src/metering/spend.js'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { createRateLimitFeature } from '../../src/ratelimit/feature.js'
import { startGateway, tempDataDir, UPSTREAM_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'

const DAY_KEY = 'sk-day-0123456789abcdefghijklmnopqrstuvwxy'
const MONTH_KEY = 'sk-month-0123456789abcdefghijklmnopqrstuvw'
const DEFAULT_KEY = 'sk-dflt-0123456789abcdefghijklmnopqrstuvwx'
const chat = { model: 'gpt-5.2-chat-latest', messages: [{ role: 'user' as const, content: 'hi' }] }
const NOW = Date.UTC(2026, 10, 29, 15, 0, 0)

/** Spend as a test records it, by key id and period; `fail` makes the ledger unreadable. */
class RecordedSpend implements SpendReader {
  readonly spent = new Map<string, number>()
  readonly calls: Array<{ keyId: string, period: BudgetPeriod, nowMs: number }> = []
  fail = false
  async spentNanos (keyId: string, period: BudgetPeriod, nowMs: number): Promise<number> {
    this.calls.push({ keyId, period, nowMs })
    if (this.fail) throw new Error('ledger unreachable')
    return this.spent.get(`${keyId}/${period}`) ?? 0
  }
}

interface BudgetGateway { app: FastifyInstance, url: string, keyIds: Map<string, string>, client (key: string): OpenAI, close (): Promise<void> }

/** A real gateway whose limits stage reads `spend` (the budget side in isolation from metering). */
async function startWithSpend (mock: MockUpstream, spend: SpendReader, overrides: Record<string, unknown>): Promise<BudgetGateway> {
  const config = configFrom({ UPSTREAM_BASE_URL: mock.baseUrl, UPSTREAM_API_KEY: UPSTREAM_KEY, DATA_DIR: tempDataDir(), ...overrides })
  const log = createLogger('silent', new Writable({ write (_c, _e, cb) { cb() } }))
  const deps = await createDeps(config, log)
  const limits = createRateLimitFeature({ config, log, metrics: deps.metrics, redis: undefined, sqlite: undefined }, spend, { clock: () => NOW })
  const app = await buildApp(config, { ...deps, features: deps.features.map((f) => f.name === 'limits' ? limits : f) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const keyIds = new Map<string, string>()
  for (const k of config.keys) keyIds.set(k.name, (await deps.keys.resolve(k.key!))!.id)
  return { app, url, keyIds, client: (key) => new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 }), close: () => app.close() }
}

async function caught (p: Promise<unknown>): Promise<APIError> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(APIError)
  return err as APIError
}

describe('budgets against recorded spend', () => {
  let mock: MockUpstream
  let gw: BudgetGateway
  let closed: BudgetGateway
  const spend = new RecordedSpend()
  const keys = [
    { name: 'day-key', key: DAY_KEY, budget_usd: 5, budget_period: 'day' },
    { name: 'month-key', key: MONTH_KEY, budget_usd: 20 },
    { name: 'default-key', key: DEFAULT_KEY }
  ]
  beforeAll(async () => {
    mock = await startMockUpstream()
    gw = await startWithSpend(mock, spend, { keys, limits: { defaults: { budget_usd: 1, budget_period: 'total' } } })
    closed = await startWithSpend(mock, spend, { keys, LIMITS_FAIL_MODE: 'closed' })
  })
  afterAll(async () => {
    await gw.close()
    await closed.close()
    await mock.close()
  })

  it('serves a key under its budget and exports the budget gauges', async () => {
    const dayId = gw.keyIds.get('day-key')!
    spend.spent.set(`${dayId}/day`, 4_990_000_000)
    const r = await gw.client(DAY_KEY).chat.completions.create(chat)
    expect(r.choices[0]!.message.content).toBeTruthy()
    expect(spend.calls.at(-1)).toEqual({ keyId: dayId, period: 'day', nowMs: NOW })
    const text = await (await fetch(`${gw.url}/metrics`)).text()
    expect(text).toMatch(/gateway_budget_usd\{key="day-key",period="day"\} 5/)
    expect(text).toMatch(/gateway_budget_spent_usd\{key="day-key",period="day"\} 4\.99/)
  })

  it('refuses a spent budget with insufficient_quota and x-should-retry: false', async () => {
    spend.spent.set(`${gw.keyIds.get('day-key')!}/day`, 5_000_000_000)
    const err = await caught(gw.client(DAY_KEY).chat.completions.create(chat))
    expect(err).toBeInstanceOf(RateLimitError)
    expect(err.status).toBe(429)
    expect(err.code).toBe('insufficient_quota')
    expect(err.type).toBe('insufficient_quota')
    expect(err.message).toContain('daily budget of $5.00')
    expect(err.headers?.get('x-should-retry')).toBe('false')
    const text = await (await fetch(`${gw.url}/metrics`)).text()
    expect(text).toMatch(/gateway_rate_limited_total\{key="day-key",limit="budget"\} 1/)
  })

  it('reads the month (the default period) and the config defaults for keys without a budget', async () => {
    spend.spent.set(`${gw.keyIds.get('month-key')!}/month`, 25_000_000_000)
    expect((await caught(gw.client(MONTH_KEY).chat.completions.create(chat))).message).toContain('monthly budget of $20.00')
    // default-key inherits limits.defaults: $1 in total.
    spend.spent.set(`${gw.keyIds.get('default-key')!}/total`, 1_000_000_000)
    expect((await caught(gw.client(DEFAULT_KEY).chat.completions.create(chat))).message).toContain('total budget of $1.00')
  })

  it('an unreadable ledger serves (fail open) or answers 503 (fail closed)', async () => {
    spend.fail = true
    try {
      spend.spent.set(`${gw.keyIds.get('month-key')!}/month`, 0)
      expect((await gw.client(MONTH_KEY).chat.completions.create(chat)).choices).toHaveLength(1)
      const err = await caught(closed.client(MONTH_KEY).chat.completions.create(chat))
      expect(err.status).toBe(503)
      expect(err.code).toBe('limits_unavailable')
      expect(await (await fetch(`${gw.url}/metrics`)).text()).toMatch(/gateway_limiter_errors_total [1-9]/)
    } finally {
      spend.fail = false
    }
  })
})

describe('budgets against the real spend ledger (metering)', () => {
  let gw: TestGateway
  beforeAll(async () => {
    // The mock's usage costs $0.006265 per request at the default gpt-5.2-chat-latest prices.
    gw = await startGateway({ keys: [{ name: 'budget', key: DAY_KEY, budget_usd: 0.01, budget_period: 'total' }] })
  })
  afterAll(async () => { await gw.close() })

  it('stops the key once its spend reaches the budget', async () => {
    const client = gw.client(DAY_KEY)
    let served = 0
    let refusal: APIError | undefined
    await waitFor(async () => {
      try {
        await client.chat.completions.create(chat)
        served++
        return false
      } catch (e) {
        refusal = e as APIError
        return true
      }
    })
    expect(refusal?.code).toBe('insufficient_quota')
    expect(refusal?.headers?.get('x-should-retry')).toBe('false')
    // Two requests spend $0.01253 ≥ $0.01; a third may pass while the second is still being recorded.
    expect(served).toBeGreaterThanOrEqual(2)
    expect(served).toBeLessThanOrEqual(3)
  })
})
