import { APIError } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { chat, metric, upstreamsGateway, type UpstreamsGateway } from './servers.js'

describe('weights', () => {
  let a: MockUpstream
  let b: MockUpstream
  let g: UpstreamsGateway
  beforeAll(async () => {
    a = await startMockUpstream()
    b = await startMockUpstream()
    g = await upstreamsGateway([{ name: 'a', base_url: a.baseUrl, weight: 3 }, { name: 'b', base_url: b.baseUrl, weight: 1 }], {}, a)
  })
  afterAll(async () => {
    await g.close()
    await a.close()
    await b.close()
  })

  it('spreads requests by weight (300 requests, 3:1)', async () => {
    const seen = { a: 0, b: 0 }
    for (let batch = 0; batch < 30; batch++) {
      await Promise.all(Array.from({ length: 10 }, async () => {
        const { response } = await g.client.chat.completions.create(chat).withResponse()
        seen[response.headers.get('x-gateway-upstream') as 'a' | 'b']++
      }))
    }
    expect(seen.a + seen.b).toBe(300)
    expect(a.requests).toHaveLength(seen.a)
    expect(b.requests).toHaveLength(seen.b)
    // Expected 225 / 75, standard deviation 7.5: six of them either side.
    expect(seen.a).toBeGreaterThanOrEqual(180)
    expect(seen.a).toBeLessThanOrEqual(270)
    expect(await metric(g.gw, 'gateway_upstream_requests_total{upstream="a",outcome="ok"}')).toBe(seen.a)
  })
})

describe('models per upstream', () => {
  let big: MockUpstream
  let mini: MockUpstream
  let g: UpstreamsGateway
  beforeAll(async () => {
    big = await startMockUpstream()
    mini = await startMockUpstream()
    g = await upstreamsGateway([
      { name: 'big', base_url: big.baseUrl, models: ['gpt-5.2*'] },
      { name: 'mini', base_url: mini.baseUrl, models: ['*-mini', 'text-embedding-3-small'] }
    ], {}, big)
  })
  afterAll(async () => {
    await g.close()
    await big.close()
    await mini.close()
  })

  it('sends each model only to the upstreams that serve it', async () => {
    for (let i = 0; i < 10; i++) {
      const r1 = await g.client.chat.completions.create({ ...chat, model: 'gpt-5.2-chat-latest' }).withResponse()
      expect(r1.response.headers.get('x-gateway-upstream')).toBe('big')
      const r2 = await g.client.chat.completions.create({ ...chat, model: 'gpt-5-mini' }).withResponse()
      expect(r2.response.headers.get('x-gateway-upstream')).toBe('mini')
    }
    const e = await g.client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).withResponse()
    expect(e.response.headers.get('x-gateway-upstream')).toBe('mini')
    expect(big.requests).toHaveLength(10)
    expect(mini.requests).toHaveLength(11)
  })

  it('a model no upstream serves is 404 model_not_found, and nothing is sent', async () => {
    const before = big.requests.length + mini.requests.length
    const err = await g.client.chat.completions.create({ ...chat, model: 'claude-opus' }).catch((e: unknown) => e) as APIError
    expect(err).toBeInstanceOf(APIError)
    expect(err.status).toBe(404)
    expect(err.code).toBe('model_not_found')
    expect(err.param).toBe('model')
    expect(big.requests.length + mini.requests.length).toBe(before)
  })

  it('a failure is retried only where the model is served (the same upstream again)', async () => {
    big.once((_req, _body, res) => { res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom","type":"server_error","param":null,"code":null}}') })
    const before = mini.requests.length
    const { response } = await g.client.chat.completions.create({ ...chat, model: 'gpt-5.2' }).withResponse()
    expect(response.headers.get('x-gateway-upstream')).toBe('big')
    expect(mini.requests.length).toBe(before)
  })

  it('a request without a model (GET /v1/models) goes to any upstream', async () => {
    const { response } = await g.client.models.list().withResponse()
    expect(['big', 'mini']).toContain(response.headers.get('x-gateway-upstream'))
  })
})
