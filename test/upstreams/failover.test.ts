import { APIError } from 'openai'
import { afterEach, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { chat, closedPortUrl, errorAnswer, hang, metric, scriptedServer, upstreamsGateway, type ScriptedServer, type UpstreamsGateway } from './servers.js'

/**
 * Failover with real upstreams and the real SDK (maxRetries 0). The failing upstream has
 * by far the larger weight, so the first attempt goes there (all but certainly) and what
 * the client sees is the gateway's retry.
 */
describe('failover across upstreams', () => {
  const open: Array<{ close (): Promise<void> }> = []
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close()
  })
  async function setUp (bad: Record<string, unknown>, overrides: Record<string, unknown> = {}): Promise<{ g: UpstreamsGateway, good: MockUpstream }> {
    const good = await startMockUpstream()
    open.push(good)
    const g = await upstreamsGateway([{ name: 'bad', weight: 1000, api_key: 'sk-bad', ...bad }, { name: 'good', base_url: good.baseUrl, api_key: 'sk-good' }], overrides, good)
    open.push(g)
    return { g, good }
  }
  async function failing (answer: ScriptedServer['answer']): Promise<ScriptedServer> {
    const s = await scriptedServer(answer)
    open.push(s)
    return s
  }

  it('a refused connection is retried on the other upstream; the answer names it', async () => {
    const { g, good } = await setUp({ base_url: await closedPortUrl() })
    for (let i = 0; i < 5; i++) {
      const { data, response } = await g.client.chat.completions.create(chat).withResponse()
      expect(data.object).toBe('chat.completion')
      expect(response.headers.get('x-gateway-upstream')).toBe('good')
      expect(response.headers.get('x-should-retry')).toBeNull()
    }
    expect(good.requests).toHaveLength(5)
    expect(good.requests[0]!.headers.authorization).toBe('Bearer sk-good')
    expect(await metric(g.gw, 'gateway_upstream_retries_total{upstream="bad",reason="unavailable"}')).toBeGreaterThanOrEqual(1)
    expect(await metric(g.gw, 'gateway_upstream_requests_total{upstream="bad",outcome="unavailable"}')).toBeGreaterThanOrEqual(1)
    expect(await metric(g.gw, 'gateway_upstream_requests_total{upstream="good",outcome="ok"}')).toBe(5)
    expect(await metric(g.gw, 'gateway_upstream_up{upstream="bad"}')).toBe(1)
    expect(await metric(g.gw, 'gateway_upstream_up{upstream="good"}')).toBe(1)
  })

  it.each([500, 502, 503, 504, 429])('an upstream %i is retried on the other upstream, and its body never reaches the client', async (status) => {
    const bad = await failing(errorAnswer(status))
    const { g } = await setUp({ base_url: bad.baseUrl })
    const { data, response } = await g.client.chat.completions.create(chat).withResponse()
    expect(data.choices[0]!.message.content).toContain('Hello')
    expect(response.headers.get('x-gateway-upstream')).toBe('good')
    expect(bad.requests.length).toBeGreaterThanOrEqual(1)
    expect(await metric(g.gw, `gateway_upstream_retries_total{upstream="bad",reason="${status}"}`)).toBe(bad.requests.length)
  })

  it('an upstream that sends no headers within UPSTREAM_TIMEOUT_MS is retried on the other', async () => {
    const bad = await failing(hang)
    const { g } = await setUp({ base_url: bad.baseUrl }, { UPSTREAM_TIMEOUT_MS: 1000 })
    const { response } = await g.client.chat.completions.create(chat).withResponse()
    expect(response.status).toBe(200)
    expect(response.headers.get('x-gateway-upstream')).toBe('good')
    expect(bad.requests).toHaveLength(1)
    expect(await metric(g.gw, 'gateway_upstream_retries_total{upstream="bad",reason="timeout"}')).toBe(1)
  })

  it('a 400 from the upstream is the client\'s answer: not retried, no x-should-retry', async () => {
    const bad = await failing(errorAnswer(400))
    const { g, good } = await setUp({ base_url: bad.baseUrl })
    const err = await g.client.chat.completions.create(chat).catch((e: unknown) => e) as APIError
    expect(err).toBeInstanceOf(APIError)
    expect(err.status).toBe(400)
    expect(err.message).toContain('upstream says 400')
    expect(err.headers?.get('x-gateway-upstream')).toBe('bad')
    expect(err.headers?.get('x-should-retry')).toBeNull()
    expect(good.requests).toHaveLength(0)
  })

  it('when every attempt fails the client gets the last upstream error, with x-should-retry: false', async () => {
    const a = await failing(errorAnswer(500))
    const b = await failing(errorAnswer(503))
    const g = await upstreamsGateway([{ name: 'a', base_url: a.baseUrl }, { name: 'b', base_url: b.baseUrl }], { UPSTREAM_RETRIES: 2 })
    open.push(g)
    const err = await g.client.chat.completions.create(chat).catch((e: unknown) => e) as APIError
    expect(err).toBeInstanceOf(APIError)
    // Three attempts, alternating: a b a or b a b; the last one's answer is the client's.
    expect(a.requests.length + b.requests.length).toBe(3)
    const last = a.requests.length === 2 ? 'a' : 'b'
    expect(err.status).toBe(last === 'a' ? 500 : 503)
    expect(err.message).toContain(`upstream says ${err.status}`)
    expect(err.headers?.get('x-gateway-upstream')).toBe(last)
    expect(err.headers?.get('x-should-retry')).toBe('false')
  })

  it('when no upstream can be reached: 502 upstream_unavailable after the retries, with x-should-retry: false', async () => {
    const g = await upstreamsGateway([{ name: 'a', base_url: await closedPortUrl() }, { name: 'b', base_url: await closedPortUrl() }], { UPSTREAM_RETRIES: 1 })
    open.push(g)
    const res = await fetch(`${g.gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${g.client.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(chat) })
    expect(res.status).toBe(502)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upstream_unavailable')
    expect(res.headers.get('x-should-retry')).toBe('false')
    expect(['a', 'b']).toContain(res.headers.get('x-gateway-upstream'))
  })

  it('one upstream: UPSTREAM_BASE_URL is upstream `default`, retried on itself', async () => {
    const g = await upstreamsGateway([])
    open.push(g)
    g.gw.mock.once(errorAnswerHandler(502))
    const { response } = await g.client.chat.completions.create(chat).withResponse()
    expect(response.headers.get('x-gateway-upstream')).toBe('default')
    expect(g.gw.mock.requests).toHaveLength(2)
    expect(await metric(g.gw, 'gateway_upstream_retries_total{upstream="default",reason="502"}')).toBe(1)
  })
})

describe('retry-after', () => {
  let mock: MockUpstream
  let g: UpstreamsGateway
  afterEach(async () => {
    await g.close()
    await mock.close()
  })

  it('up to 2 s is waited for, then the same upstream is tried again', async () => {
    mock = await startMockUpstream()
    g = await upstreamsGateway([{ name: 'only', base_url: mock.baseUrl }], {}, mock)
    mock.once(errorAnswerHandler(429, { 'retry-after': '1' }))
    const started = Date.now()
    const { response } = await g.client.chat.completions.create(chat).withResponse()
    expect(response.status).toBe(200)
    expect(mock.requests).toHaveLength(2)
    // It waited (a lower bound only: the machine may be slower, never faster).
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
  })

  it('a longer one is not waited for: with no other upstream the client gets the 429 and its retry-after', async () => {
    mock = await startMockUpstream()
    g = await upstreamsGateway([{ name: 'only', base_url: mock.baseUrl }], {}, mock)
    mock.once(errorAnswerHandler(429, { 'retry-after': '30' }))
    const err = await g.client.chat.completions.create(chat).catch((e: unknown) => e) as APIError
    expect(err.status).toBe(429)
    expect(err.headers?.get('retry-after')).toBe('30')
    expect(err.headers?.get('x-should-retry')).toBeNull()
    expect(mock.requests).toHaveLength(1)
  })
})

function errorAnswerHandler (status: number, headers: Record<string, string> = {}) {
  const answer = errorAnswer(status, headers)
  return (req: Parameters<ScriptedServer['answer']>[0], _body: Buffer, res: Parameters<ScriptedServer['answer']>[1]) => answer(req, res)
}
