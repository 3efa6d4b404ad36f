import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { startGateway, waitFor, ADMIN_KEY, type TestGateway } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'

/** About $0.005 a request: 400 in (none cached), 400 out → 400 × 1.40 + 400 × 11.20 per 1M = $0.00504. */
const USAGE = { input: 400, cached: 0, output: 400, reasoning: 0 }
const COST = 0.00504
const BUDGET_KEY = 'sk-budget-0123456789abcdefghijklmnopqrstu'
const TPM_KEY = 'sk-tpmkey-0123456789abcdefghijklmnopqrstu'
const TINY_KEY = 'sk-tinykey-0123456789abcdefghijklmnopqrst'
const GAUGE_KEY = 'sk-gaugekey-0123456789abcdefghijklmnopqrs'
const keys = [
  { name: 'budgeted', key: BUDGET_KEY, budget_usd: 0.01, budget_period: 'day' },
  { name: 'tiny', key: TINY_KEY, budget_usd: 0.001, budget_period: 'day' },
  { name: 'gauge', key: GAUGE_KEY, budget_usd: 1, budget_period: 'month' },
  { name: 'tpm', key: TPM_KEY, tpm: 2000 }
]

interface Answer { status: number, code: string | null, scope: string | null, remainingTokens: string | null, message: string }

async function chat (gw: TestGateway, key: string, extra: Record<string, unknown> = {}): Promise<Answer> {
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }], ...extra }),
    signal: AbortSignal.timeout(30_000)
  })
  const body = await res.json() as { error?: { code: string, message: string } }
  return { status: res.status, code: body.error?.code ?? null, scope: res.headers.get('x-gateway-limit-scope'), remainingTokens: res.headers.get('x-ratelimit-remaining-tokens'), message: body.error?.message ?? '' }
}

async function spentUsd (gw: TestGateway, keyName: string): Promise<{ usd: number, tokens: number, requests: number }> {
  // Give the ledger its flush (it writes every 250 ms).
  await new Promise((resolve) => setTimeout(resolve, 400))
  const res = await fetch(`${gw.url}/admin/usage?group_by=key`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  const rows = (await res.json() as { data: Array<{ key_name: string, cost_usd: number, input_tokens: number, output_tokens: number, requests: number }> }).data
  const row = rows.find((r) => r.key_name === keyName)
  return { usd: row?.cost_usd ?? 0, tokens: (row?.input_tokens ?? 0) + (row?.output_tokens ?? 0), requests: row?.requests ?? 0 }
}

/** 50 requests at once, spread over the instances; every answer. */
async function fifty (gws: readonly TestGateway[], key: string, extra: Record<string, unknown> = {}): Promise<Answer[]> {
  return await Promise.all(Array.from({ length: 50 }, async (_, i) => await chat(gws[i % gws.length]!, key, extra)))
}

/** No limit check failed open during the burst (which would serve without limits). */
function noFailOpen (gw: TestGateway): void {
  expect(gw.logs.filter((l) => l.includes('limits store unreachable'))).toEqual([])
}

function checkBudgetBurst (answers: readonly Answer[], spent: { usd: number, requests: number }, instances: number): void {
  const served = answers.filter((a) => a.status === 200).length
  expect(served).toBeGreaterThanOrEqual(1)
  expect(spent.requests).toBe(served)
  expect(spent.usd).toBeLessThanOrEqual(0.01 + instances * COST + 1e-12)
  for (const a of answers.filter((x) => x.status !== 200)) {
    expect(a).toMatchObject({ status: 429, code: 'insufficient_quota', scope: 'key' })
  }
}

function checkTpmBurst (answers: readonly Answer[], spent: { tokens: number }, instances: number): void {
  expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(1)
  expect(spent.tokens).toBeLessThanOrEqual(2000 + instances * (USAGE.input + USAGE.output))
  for (const a of answers.filter((x) => x.status !== 200)) {
    expect(a).toMatchObject({ status: 429, code: 'rate_limit_exceeded', scope: 'key', remainingTokens: '0' })
  }
}

describe('50 concurrent requests against a $0.01 budget and a 2,000 tpm', () => {
  let mock: MockUpstream
  let redis: PrivateRedis
  const open: TestGateway[] = []
  beforeAll(async () => {
    // A little latency, so the requests overlap as a busy client's would.
    mock = await startMockUpstream({ usage: USAGE, latencyMs: 30 })
    redis = await startRedis()
  })
  afterAll(async () => {
    for (const gw of open) await gw.close()
    await mock?.close()
    await redis?.stop()
  })

  const start = async (overrides: Record<string, unknown>): Promise<TestGateway> => {
    // A long command timeout: on a busy machine a slow answer must not fail open (serve
    // without limits), which this test would read as over-admission.
    const gw = await startGateway({ keys, LOG_LEVEL: 'warn', REDIS_COMMAND_TIMEOUT_MS: 5000, ...overrides }, {}, mock)
    open.push(gw)
    return gw
  }

  it('embedded store: at most the budget plus one request; then spent', async () => {
    const gw = await start({})
    const answers = await fifty([gw], BUDGET_KEY)
    const spent = await spentUsd(gw, 'budgeted')
    checkBudgetBurst(answers, spent, 1)
    // Sequentially, the budget runs out and stays out; the message shows the budget exactly.
    for (let i = 0; i < 5; i++) await chat(gw, BUDGET_KEY, { max_tokens: 400 })
    const last = await chat(gw, BUDGET_KEY)
    expect(last).toMatchObject({ status: 429, code: 'insufficient_quota', scope: 'key' })
    expect(last.message).toContain('daily budget of $0.01.')
    const total = await spentUsd(gw, 'budgeted')
    expect(total.usd).toBeGreaterThanOrEqual(0.01)
    expect(total.usd).toBeLessThanOrEqual(0.01 + COST + 1e-12)
  })

  it('a $0.001 budget is named with its digits; the gauges follow each answer, not the one before', async () => {
    const gw = await start({})
    expect((await chat(gw, TINY_KEY)).status).toBe(200) // nothing open, nothing spent: runs once
    const refused = await chat(gw, TINY_KEY)
    expect(refused).toMatchObject({ status: 429, code: 'insufficient_quota' })
    expect(refused.message).toBe('This key has spent its daily budget of $0.001. Ask your gateway admin to raise it.')

    const metric = async (name: string): Promise<number | undefined> => {
      const text = await (await fetch(`${gw.url}/metrics`)).text()
      const line = text.split('\n').find((l) => l.startsWith(name + '{') && l.includes('gauge'))
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    expect((await chat(gw, GAUGE_KEY)).status).toBe(200)
    await waitFor(async () => await metric('gateway_budget_spent_usd') === COST, 5000)
    expect(await metric('gateway_budget_remaining_usd')).toBeCloseTo(1 - COST, 9)
    expect((await chat(gw, GAUGE_KEY)).status).toBe(200)
    await waitFor(async () => await metric('gateway_budget_spent_usd') === 2 * COST, 5000)
  })

  it('embedded store with max_tokens: several run side by side, still within budget plus one', async () => {
    const gw = await start({})
    const answers = await fifty([gw], BUDGET_KEY, { max_tokens: 400 })
    checkBudgetBurst(answers, await spentUsd(gw, 'budgeted'), 1)
  })

  it('embedded store, tpm: at most the minute plus one request', async () => {
    const gw = await start({})
    const answers = await fifty([gw], TPM_KEY)
    checkTpmBurst(answers, await spentUsd(gw, 'tpm'), 1)
  })

  it('one Redis: at most the budget plus one request, and the same for tpm', async () => {
    await redis.stop()
    await redis.restart()
    const gw = await start({ REDIS_URL: redis.url })
    checkBudgetBurst(await fifty([gw], BUDGET_KEY), await spentUsd(gw, 'budgeted'), 1)
    checkTpmBurst(await fifty([gw], TPM_KEY), await spentUsd(gw, 'tpm'), 1)
    noFailOpen(gw)
  })

  it('two instances sharing one Redis: at most the budget plus one request per instance, and the same for tpm', async () => {
    await redis.stop()
    await redis.restart()
    const a = await start({ REDIS_URL: redis.url })
    const b = await start({ REDIS_URL: redis.url })
    checkBudgetBurst(await fifty([a, b], BUDGET_KEY), await spentUsd(a, 'budgeted'), 2)
    checkTpmBurst(await fifty([a, b], TPM_KEY), await spentUsd(b, 'tpm'), 2)
    noFailOpen(a)
    noFailOpen(b)
    // Both instances see the same spend: the budget gauge follows each answer, not the one before.
    await waitFor(async () => {
      const text = await (await fetch(`${a.url}/metrics`)).text()
      return /gateway_budget_remaining_usd\{scope="key",name="budgeted"\} \d/.test(text)
    }, 5000)
  })
})
