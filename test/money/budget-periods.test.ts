import { APIError, RateLimitError } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashKey } from '../../src/auth/key-record.js'
import { sqliteLedgerStore } from '../../src/metering/ledger-sqlite.js'
import { emptyRow, utcDay } from '../../src/metering/record.js'
import { openSqlite } from '../../src/store/sqlite.js'
import { startGateway, tempDataDir, type TestGateway } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'

const DAY_KEY = 'sk-day-0123456789abcdefghijklmnopqrstuvwxy'
const MONTH_KEY = 'sk-month-0123456789abcdefghijklmnopqrstuvw'
const DEFAULT_KEY = 'sk-dflt-0123456789abcdefghijklmnopqrstuvwx'
const chat = { model: 'gpt-5.2-chat-latest', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 100 }
const keys = [
  { name: 'day-key', key: DAY_KEY, budget_usd: 5, budget_period: 'day' },
  { name: 'month-key', key: MONTH_KEY, budget_usd: 20 },
  { name: 'default-key', key: DEFAULT_KEY }
]
/** The id the gateway gives a key of the config file. */
const idOf = (secret: string): string => 'static_' + hashKey(secret).slice(0, 16)

/** Spend already in the embedded ledger before the gateway starts (a previous run's). */
function seed (dir: string, rows: Array<{ key: string, day: string, nanos: number }>): void {
  const db = openSqlite(dir)
  const store = sqliteLedgerStore(db)
  store.writeSync!(rows.map((r) => ({ ...emptyRow(idOf(r.key), 'seed', 'gpt-5.2-chat-latest', r.day), requests: 1, costNanos: r.nanos })), 'seed-' + Math.random())
  db.close()
}

async function caught (p: Promise<unknown>): Promise<APIError> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(APIError)
  return err as APIError
}

describe('budgets per period against the stored ledger', () => {
  let gw: TestGateway
  const now = Date.now()
  const today = utcDay(now)
  const earlierThisMonth = today.endsWith('-01') ? today : today.slice(0, 8) + '01'
  const lastYear = String(Number(today.slice(0, 4)) - 1) + today.slice(4)
  beforeAll(async () => {
    const dir = tempDataDir()
    seed(dir, [
      { key: DAY_KEY, day: today, nanos: 4_990_000_000 },
      { key: DAY_KEY, day: lastYear, nanos: 100_000_000_000 }, // another day: not this budget's
      { key: MONTH_KEY, day: earlierThisMonth, nanos: 25_000_000_000 },
      { key: DEFAULT_KEY, day: lastYear, nanos: 1_000_000_000 }
    ])
    gw = await startGateway({ DATA_DIR: dir, keys, limits: { defaults: { budget_usd: 1, budget_period: 'total' } } })
  })
  afterAll(async () => { await gw?.close() })

  it('serves a key under its daily budget and exports the gauges with the spend after the answer', async () => {
    const r = await gw.client(DAY_KEY).chat.completions.create(chat)
    expect(r.choices[0]!.message.content).toBeTruthy()
    const text = await (await fetch(`${gw.url}/metrics`)).text()
    expect(text).toMatch(/gateway_budget_usd\{key="day-key",period="day"\} 5/)
    // 4.99 seeded + this answer's $0.006265, not the 4.99 of before it.
    expect(text).toMatch(/gateway_budget_spent_usd\{key="day-key",period="day"\} 4\.996265/)
    expect(text).toMatch(/gateway_budget_remaining_usd\{scope="key",name="day-key"\} 0\.003735/)
  })

  it('refuses a spent budget with insufficient_quota, x-should-retry: false and the scope', async () => {
    // 4.996265 + 0.006265 ≥ 5 once one more answer lands; nothing else open, so it runs.
    await gw.client(DAY_KEY).chat.completions.create(chat)
    const err = await caught(gw.client(DAY_KEY).chat.completions.create(chat))
    expect(err).toBeInstanceOf(RateLimitError)
    expect(err.status).toBe(429)
    expect(err.code).toBe('insufficient_quota')
    expect(err.type).toBe('insufficient_quota')
    expect(err.message).toContain('This key has spent its daily budget of $5. Ask your gateway admin to raise it.')
    expect(err.headers?.get('x-should-retry')).toBe('false')
    expect(err.headers?.get('x-gateway-limit-scope')).toBe('key')
    const text = await (await fetch(`${gw.url}/metrics`)).text()
    expect(text).toMatch(/gateway_rate_limited_total\{key="day-key",limit="budget"\} 1/)
  })

  it('reads the month (the default period) and the config defaults for keys without a budget', async () => {
    expect((await caught(gw.client(MONTH_KEY).chat.completions.create(chat))).message).toContain('monthly budget of $20.')
    // default-key inherits limits.defaults: $1 in total, spent last year.
    expect((await caught(gw.client(DEFAULT_KEY).chat.completions.create(chat))).message).toContain('total budget of $1.')
  })
})

describe('budgets while Redis is unreachable', () => {
  let redis: PrivateRedis
  let open: TestGateway
  let closed: TestGateway
  beforeAll(async () => {
    redis = await startRedis()
    open = await startGateway({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 300, keys })
    closed = await startGateway({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 300, LIMITS_FAIL_MODE: 'closed', keys }, {}, open.mock)
  })
  afterAll(async () => {
    await closed?.close()
    await open?.close()
    await redis?.stop()
  })

  it('serves (fail open) or answers 503 (fail closed), within the command timeout', async () => {
    await redis.stop()
    const t0 = Date.now()
    expect((await open.client(MONTH_KEY).chat.completions.create(chat)).choices).toHaveLength(1)
    const err = await caught(closed.client(MONTH_KEY).chat.completions.create(chat))
    expect(err.status).toBe(503)
    expect(err.code).toBe('limits_unavailable')
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(await (await fetch(`${open.url}/metrics`)).text()).toMatch(/gateway_limiter_errors_total [1-9]/)
  })
})
