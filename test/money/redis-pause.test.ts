import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'

const KEY = 'sk-paused-0123456789abcdefghijklmnopqrstu'
/** A key without limits: it never touches Redis, so its latency is the machine's own noise. */
const FREE = 'sk-freepaused-0123456789abcdefghijklmnopq'
const TIMEOUT_MS = 300
/** Generous: the machine is small and busy; what matters is that nothing waits for Redis to come back. */
const MARGIN_MS = 1000
const PAUSE_MS = 5000

describe('a paused Redis (SIGSTOP for 5 s) under traffic', () => {
  let redis: PrivateRedis
  let mock: MockUpstream
  let gw: TestGateway
  beforeAll(async () => {
    redis = await startRedis()
    mock = await startMockUpstream()
    gw = await startGateway({
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: TIMEOUT_MS,
      LOG_LEVEL: 'warn',
      keys: [{ name: 'paused', key: KEY, budget_usd: 100, tpm: 10_000_000, rpm: 100_000, max_concurrency: 50 }, { name: 'free', key: FREE }]
    }, {}, mock)
  })
  afterAll(async () => {
    if (redis?.process.exitCode === null) redis.process.kill('SIGCONT')
    await gw?.close()
    await mock?.close()
    await redis?.stop()
  })

  it(`no request of a budgeted key waits longer than REDIS_COMMAND_TIMEOUT_MS (${TIMEOUT_MS} ms) plus a margin`, async () => {
    const one = async (key = KEY): Promise<{ ms: number, status: number }> => {
      const t0 = performance.now()
      const res = await fetch(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }),
        signal: AbortSignal.timeout(20_000)
      })
      await res.arrayBuffer()
      return { ms: performance.now() - t0, status: res.status }
    }
    // Warm: spend exists and the ledger has batches to write (and retry) during the pause.
    for (let i = 0; i < 5; i++) expect((await one()).status).toBe(200)

    const results: Array<{ ms: number, status: number, paused: boolean }> = []
    const control: number[] = []
    const state = { paused: false, stop: false }
    // Four clients of the budgeted key and two of the free one, in loops bounded in time and count.
    const clients = Array.from({ length: 4 }, async () => {
      for (let n = 0; n < 500 && !state.stop; n++) {
        const during = state.paused
        const r = await one()
        results.push({ ...r, paused: during || state.paused })
      }
    })
    const controls = Array.from({ length: 2 }, async () => {
      for (let n = 0; n < 500 && !state.stop; n++) control.push((await one(FREE)).ms)
    })
    await new Promise((resolve) => setTimeout(resolve, 500))
    redis.process.kill('SIGSTOP')
    state.paused = true
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS))
    redis.process.kill('SIGCONT')
    state.paused = false
    await new Promise((resolve) => setTimeout(resolve, 1000))
    state.stop = true
    await Promise.all([...clients, ...controls])

    const during = results.filter((r) => r.paused)
    expect(during.length).toBeGreaterThan(4)
    // Served without limits while the store cannot answer (LIMITS_FAIL_MODE=open).
    expect(results.filter((r) => r.status !== 200)).toEqual([])
    // Against the machine's noise at the same moments (the free key's slowest answer).
    const slowest = Math.max(...results.map((r) => r.ms))
    expect(slowest).toBeLessThan(TIMEOUT_MS + MARGIN_MS + Math.max(...control))
  }, 60_000)
})
