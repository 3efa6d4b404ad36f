import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { ADMIN_KEY, startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'
import { startRedis, startRedisCluster } from '../helpers/redis.js'

const RPM_KEY = 'sk-rpm10-0123456789abcdefghijklmnopqrstuv'
const CONC_KEY = 'sk-conc1-0123456789abcdefghijklmnopqrstuv'
const TPM_KEY = 'sk-tpm2k-0123456789abcdefghijklmnopqrstuv'
const keys = [
  { name: 'rpm10', key: RPM_KEY, rpm: 10 },
  { name: 'conc1', key: CONC_KEY, max_concurrency: 1 },
  { name: 'tpm2k', key: TPM_KEY, tpm: 2000 }
]
/** OpenAI's error body. */
interface ErrorBody { error: { message: string, type: string, code: string | null } }
const body = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] })

async function post (gw: TestGateway, key: string, signal?: AbortSignal): Promise<Response> {
  return await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body.replace('}]}', '}],"stream":' + String(signal !== undefined) + '}'),
    signal: signal ?? AbortSignal.timeout(30_000)
  })
}

/** An admin API call, as a script would make it. */
async function admin (gw: TestGateway, method: string, path: string, json: unknown): Promise<{ id: string, key: string }> {
  const res = await fetch(`${gw.url}/admin${path}`, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(json) })
  expect(res.status).toBeLessThan(300)
  return await res.json() as { id: string, key: string }
}

/** Two gateway instances on one store (single Redis or Cluster) enforce one limit. */
function instances (name: string, start: () => Promise<{ env: Record<string, string>, stop: () => Promise<void> }>): void {
  describe(`two gateway instances on ${name}`, () => {
    let mock: MockUpstream
    let a: TestGateway
    let b: TestGateway
    let stop: () => Promise<void>
    beforeAll(async () => {
      const store = await start()
      stop = store.stop
      mock = await startMockUpstream()
      a = await startGateway({ ...store.env, keys }, {}, mock)
      b = await startGateway({ ...store.env, keys }, {}, mock)
    })
    afterAll(async () => {
      await a?.close()
      await b?.close()
      await mock?.close()
      await stop?.()
    })

    it('admit exactly 10 of 50 concurrent requests on rpm 10', async () => {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => post(i % 2 === 0 ? a : b, RPM_KEY)))
      const statuses = answers.map((r) => r.status)
      expect(statuses.filter((s) => s === 200)).toHaveLength(10)
      expect(statuses.filter((s) => s === 429)).toHaveLength(40)
      const refused = answers.find((r) => r.status === 429)!
      expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0')
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect((await refused.json() as ErrorBody).error.code).toBe('rate_limit_exceeded')
      await Promise.all(answers.filter((r) => !r.bodyUsed).map((r) => r.body?.cancel()))
    })

    it('share concurrency slots: a stream held on one instance blocks the other until aborted', async () => {
      let upstreamClosed = false
      mock.once(async (_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write('data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"slow"},"finish_reason":null}]}\n\n')
        res.on('close', () => { upstreamClosed = true })
      })
      const abort = new AbortController()
      const held = await post(a, CONC_KEY, abort.signal)
      expect(held.status).toBe(200)
      const reader = held.body!.getReader()
      await reader.read()
      const refused = await post(b, CONC_KEY)
      expect(refused.status).toBe(429)
      expect((await refused.json() as ErrorBody).error.message).toContain('concurrent requests')
      abort.abort()
      await waitFor(() => upstreamClosed)
      await waitFor(async () => {
        const r = await post(b, CONC_KEY)
        await r.body?.cancel()
        return r.status === 200
      })
    })

    it('share the TPM bucket: tokens used through one instance count on the other', async () => {
      // Each mock answer uses 1500 tokens; 2000 TPM admits two answers, then refuses.
      expect((await post(a, TPM_KEY)).status).toBe(200)
      expect((await post(b, TPM_KEY)).status).toBe(200)
      await waitFor(async () => {
        const r = await post(a, TPM_KEY)
        await r.body?.cancel()
        return r.status === 429 && r.headers.get('x-ratelimit-remaining-tokens') === '0'
      })
      const r = await post(b, TPM_KEY)
      expect(r.status).toBe(429)
      expect((await r.json() as ErrorBody).error.type).toBe('tokens')
    })

    it('follow a limit raised through the admin API on either instance', async () => {
      const created = await admin(a, 'POST', '/keys', { name: `patched-${name}`, rpm: 1 })
      expect((await post(b, created.key)).status).toBe(200)
      expect((await post(a, created.key)).status).toBe(429)
      await admin(a, 'PATCH', `/keys/${created.id}`, { rpm: 600 })
      await waitFor(async () => {
        const r = await post(b, created.key)
        await r.body?.cancel()
        return r.status === 200 && r.headers.get('x-ratelimit-limit-requests') === '600'
      })
    })

    it('stop a key on every instance once its budget is spent through one of them', async () => {
      // $0.006265 per mock answer: the $0.01 budget is spent after two answers through a.
      const created = await admin(a, 'POST', '/keys', { name: `budget-${name}`, budget_usd: 0.01, budget_period: 'total' })
      expect((await post(a, created.key)).status).toBe(200)
      expect((await post(a, created.key)).status).toBe(200)
      // Each instance buffers its spend briefly before the shared ledger has it (metering):
      // the other instance stops the key as soon as the ledger does.
      for (const gw of [a, b]) {
        await waitFor(async () => {
          const r = await post(gw, created.key)
          if (r.status === 200) {
            await r.body?.cancel()
            return false
          }
          expect(r.status).toBe(429)
          expect(r.headers.get('x-should-retry')).toBe('false')
          expect((await r.json() as ErrorBody).error.code).toBe('insufficient_quota')
          return true
        })
      }
    })
  })
}

instances('one Redis', async () => {
  const redis = await startRedis()
  return { env: { REDIS_URL: redis.url }, stop: () => redis.stop() }
})

instances('a 3-master Redis Cluster', async () => {
  const cluster = await startRedisCluster()
  return { env: { REDIS_CLUSTER_NODES: cluster.nodesEnv }, stop: () => cluster.stop() }
})
