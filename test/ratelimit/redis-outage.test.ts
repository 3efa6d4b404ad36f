import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'

const LIMITED = 'sk-limited-0123456789abcdefghijklmnopqrst'
const FREE = 'sk-free-0123456789abcdefghijklmnopqrstuvw'
const keys = [
  { name: 'limited', key: LIMITED, rpm: 1000, max_concurrency: 5 },
  { name: 'free', key: FREE }
]
/** OpenAI's error body. */
interface ErrorBody { error: { message: string, type: string, code: string | null } }
const body = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] })

/** One request with a hard client-side bound: a hung request fails the test instead of hanging it. */
async function timedPost (gw: TestGateway, key: string): Promise<{ res: Response, ms: number }> {
  const start = performance.now()
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(15_000)
  })
  await res.arrayBuffer().catch(() => undefined)
  return { res, ms: performance.now() - start }
}

describe('limits while Redis is unreachable', () => {
  let redis: PrivateRedis
  let mock: MockUpstream
  let open: TestGateway
  let closed: TestGateway
  beforeAll(async () => {
    redis = await startRedis()
    mock = await startMockUpstream()
    // A short command timeout, as in production: the request path must not wait on Redis.
    open = await startGateway({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 300, keys }, {}, mock)
    closed = await startGateway({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 300, LIMITS_FAIL_MODE: 'closed', keys }, {}, mock)
  })
  afterAll(async () => {
    await open?.close()
    await closed?.close()
    await mock?.close()
    await redis?.stop()
  })

  it('applies limits while Redis is up', async () => {
    for (const gw of [open, closed]) {
      const { res } = await timedPost(gw, LIMITED)
      expect(res.status).toBe(200)
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe('1000')
    }
  })

  it('fails open by default and closed when configured, without hanging; recovers when Redis is back', async () => {
    await redis.stop()

    const served = await Promise.all(Array.from({ length: 5 }, () => timedPost(open, LIMITED)))
    for (const { res, ms } of served) {
      expect(res.status).toBe(200)
      // Not ours (the mock upstream sends its own account's 10000, which the relay passes on).
      expect(res.headers.get('x-ratelimit-limit-requests')).not.toBe('1000')
      expect(ms).toBeLessThan(5000)
    }
    const outageLogs = open.logs.filter((l) => l.includes('limits store unreachable'))
    expect(outageLogs).toHaveLength(1)
    expect(outageLogs[0]).toContain('serving without limits')

    const refused = await timedPost(closed, LIMITED)
    expect(refused.res.status).toBe(503)
    expect(refused.ms).toBeLessThan(5000)
    const again = await fetch(`${closed.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${LIMITED}`, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(15_000)
    })
    expect((await again.json() as ErrorBody).error.code).toBe('limits_unavailable')
    // A key without limits needs no store: served even when failing closed.
    expect((await timedPost(closed, FREE)).res.status).toBe(200)

    const metrics = await (await fetch(`${open.url}/metrics`)).text()
    expect(metrics).toMatch(/gateway_limiter_errors_total [1-9]/)

    await redis.restart()
    await waitFor(async () => (await timedPost(closed, LIMITED)).res.status === 200, 30_000, 200)
    await waitFor(async () => (await timedPost(open, LIMITED)).res.headers.get('x-ratelimit-limit-requests') === '1000', 30_000, 200)
    expect(open.logs.some((l) => l.includes('limits store reachable again'))).toBe(true)
  })
  it('answers within the command timeout when Redis hangs (process paused) instead of refusing', async () => {
    redis.process.kill('SIGSTOP')
    try {
      const [served, refused] = await Promise.all([timedPost(open, LIMITED), timedPost(closed, LIMITED)])
      expect(served.res.status).toBe(200)
      expect(refused.res.status).toBe(503)
      // 300 ms command timeout (+100 ms guard) per Redis call, on a busy machine: well under 5 s.
      expect(served.ms).toBeLessThan(5000)
      expect(refused.ms).toBeLessThan(5000)
    } finally {
      redis.process.kill('SIGCONT')
    }
    await waitFor(async () => (await timedPost(closed, LIMITED)).res.status === 200, 30_000, 200)
  })
})
