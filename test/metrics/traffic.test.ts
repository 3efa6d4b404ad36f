import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { ADMIN_KEY, TEST_KEY, UPSTREAM_KEY, startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'
import { Scrape } from './prom-text.js'

const LIMITED_KEY = 'sk-limited-0123456789abcdefghijklmnopqrstu'
const MODEL = 'gpt-5.2-chat-latest'
const CHAT = '/v1/chat/completions'
const chat = { model: MODEL, messages: [{ role: 'user' as const, content: 'hi' }] }
// The mock's usage: 1000 input (600 cached), 500 output (200 reasoning), at the default prices.
const COST = ((1000 - 600) * 1.40 + 600 * 0.175 + 500 * 11.20) / 1e6

describe('/metrics after real traffic (embedded store)', () => {
  let gw: TestGateway
  let scrape: Scrape
  let upstreamChats = 0

  beforeAll(async () => {
    // No gateway retries: the broken connection below must reach the client as a 502 (retries: test/upstreams).
    gw = await startGateway({ UPSTREAM_RETRIES: 0, keys: [{ name: 'test', key: TEST_KEY }, { name: 'limited', key: LIMITED_KEY, rpm: 1 }] }, { chunks: 4, chunkDelayMs: 5 })
    const client = gw.client()

    // Non-stream and stream chat.
    await client.chat.completions.create(chat)
    const stream = await client.chat.completions.create({ ...chat, stream: true })
    for await (const chunk of stream) expect(chunk.object).toBe('chat.completion.chunk')
    // A miss then a hit, the request opting in to the cache.
    const cached = { headers: { 'x-gateway-cache-ttl': '60' } }
    const miss = await client.chat.completions.create({ ...chat, messages: [{ role: 'user', content: 'cache me' }] }, cached).withResponse()
    const hit = await client.chat.completions.create({ ...chat, messages: [{ role: 'user', content: 'cache me' }] }, cached).withResponse()
    expect([miss.response.headers.get('x-gateway-cache'), hit.response.headers.get('x-gateway-cache')]).toEqual(['MISS', 'HIT'])
    // A 401.
    await expect(gw.client('sk-unknown-0123456789abcdefghijklmnopqrstu').chat.completions.create(chat)).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
    // A 429 from the key's rpm limit.
    await gw.client(LIMITED_KEY).chat.completions.create(chat)
    await expect(gw.client(LIMITED_KEY).chat.completions.create(chat)).rejects.toBeInstanceOf(OpenAI.RateLimitError)

    upstreamChats = gw.mock.requests.filter((r) => r.url.endsWith('/chat/completions')).length
    // Stream observers and `after` stages finish after the client has its last byte.
    await waitFor(async () => {
      scrape = await Scrape.of(gw.url)
      return scrape.sum('gateway_active_streams') === 0 && scrape.sum('gateway_requests_total', { route: CHAT }) === 7
    })
  })
  afterAll(async () => { await gw.close() })

  it('counts requests by route, model, key name and status', () => {
    expect(upstreamChats).toBe(4)
    expect(scrape.sum('gateway_requests_total', { route: CHAT, model: MODEL, key: 'test', status: '200' })).toBe(4)
    expect(scrape.sum('gateway_requests_total', { route: CHAT, key: 'limited', status: '200' })).toBe(1)
    expect(scrape.sum('gateway_requests_total', { route: CHAT, key: 'limited', status: '429' })).toBe(1)
    expect(scrape.sum('gateway_requests_total', { route: CHAT, key: 'unauthenticated', status: '401' })).toBe(1)
  })

  it('observes duration for every answer and TTFB for every upstream answer', () => {
    const count = scrape.sum('gateway_request_duration_seconds_count', { route: CHAT })
    expect(count).toBeGreaterThanOrEqual(6) // every authenticated answer; the 401 never reached the pipeline
    expect(scrape.sum('gateway_request_duration_seconds_sum', { route: CHAT })).toBeGreaterThan(0)
    const inf = scrape.sum('gateway_request_duration_seconds_bucket', { route: CHAT, le: '+Inf' })
    expect(inf).toBe(count)
    // The cache hit and the 429 had no upstream: TTFB counts exactly what the upstream answered.
    expect(scrape.sum('gateway_upstream_ttfb_seconds_count', { route: CHAT, model: MODEL })).toBe(upstreamChats)
    expect(scrape.sum('gateway_upstream_ttfb_seconds_bucket', { route: CHAT, model: MODEL, le: '60' })).toBe(upstreamChats)
    // Buckets are cumulative.
    const buckets = scrape.select('gateway_upstream_ttfb_seconds_bucket', { route: CHAT, model: MODEL }).map((s) => s.value)
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b))
    // Bounds that fit LLM traffic: TTFB from 10 ms to 60 s, whole answers up to 10 min.
    const bounds = (name: string): number[] => scrape.select(name, { route: CHAT, model: MODEL }).map((s) => Number(s.labels.le)).filter(Number.isFinite)
    expect([Math.min(...bounds('gateway_upstream_ttfb_seconds_bucket')), Math.max(...bounds('gateway_upstream_ttfb_seconds_bucket'))]).toEqual([0.01, 60])
    expect(Math.max(...bounds('gateway_request_duration_seconds_bucket'))).toBe(600)
  })

  it('brings gateway_active_streams back to 0 once the stream is done', () => {
    expect(scrape.select('gateway_active_streams')).toEqual([{ name: 'gateway_active_streams', labels: {}, value: 0 }])
  })

  it('meters tokens by class and cost per key and model for upstream answers, not for the hit', () => {
    const upstreamForTest = 3 // non-stream, stream, cache miss
    const t = (type: string): number => scrape.sum('gateway_tokens_total', { model: MODEL, key: 'test', type })
    expect([t('input'), t('cached_input'), t('output'), t('reasoning')]).toEqual([1000, 600, 500, 200].map((n) => n * upstreamForTest))
    expect(scrape.sum('gateway_cost_usd_total', { model: MODEL, key: 'test' })).toBeCloseTo(COST * upstreamForTest, 9)
    expect(scrape.sum('gateway_cost_usd_total', { model: MODEL, key: 'limited' })).toBeCloseTo(COST, 9)
  })

  it('counts the cache hit and miss and the money the hit saved', () => {
    expect(scrape.sum('gateway_cache_requests_total', { result: 'hit' })).toBe(1)
    expect(scrape.sum('gateway_cache_requests_total', { result: 'miss' })).toBe(1)
    expect(scrape.sum('gateway_cache_saved_usd_total', { model: MODEL, key: 'test' })).toBeCloseTo(COST, 9)
  })

  it('counts the 429 under the key and the limit that refused it', () => {
    expect(scrape.select('gateway_rate_limited_total')).toEqual([{ name: 'gateway_rate_limited_total', labels: { key: 'limited', limit: 'rpm' }, value: 1 }])
  })

  it('agrees with /admin/usage (both are fed by the same usage records)', async () => {
    const res = await fetch(`${gw.url}/admin/usage?group_by=key,model`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    expect(res.status).toBe(200)
    const usage = await res.json() as { data: Array<{ key_name: string, model: string, requests: number, input_tokens: number, output_tokens: number, cost_usd: number, cache_hits: number, saved_usd: number }>, total_cost_usd: number }
    const row = usage.data.find((r) => r.key_name === 'test' && r.model === MODEL)!
    expect(row.input_tokens).toBe(scrape.sum('gateway_tokens_total', { key: 'test', type: 'input' }))
    expect(row.output_tokens).toBe(scrape.sum('gateway_tokens_total', { key: 'test', type: 'output' }))
    expect(row.cost_usd).toBeCloseTo(scrape.sum('gateway_cost_usd_total', { key: 'test' }), 9)
    expect(row.cache_hits).toBe(scrape.sum('gateway_cache_requests_total', { result: 'hit' }))
    expect(row.saved_usd).toBeCloseTo(scrape.sum('gateway_cache_saved_usd_total', { key: 'test' }), 9)
    expect(usage.total_cost_usd).toBeCloseTo(scrape.sum('gateway_cost_usd_total'), 9)
  })

  it('exports the default process metrics and every gateway metric of the contract', () => {
    const names = scrape.names()
    for (const n of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) expect(names, n).toContain(n)
    for (const n of ['gateway_requests_total', 'gateway_request_duration_seconds_bucket', 'gateway_upstream_ttfb_seconds_bucket', 'gateway_tokens_total', 'gateway_cost_usd_total', 'gateway_cache_requests_total', 'gateway_cache_saved_usd_total', 'gateway_rate_limited_total', 'gateway_active_streams']) expect(names, n).toContain(n)
  })

  it('never puts a secret, a raw path or an unpriced model name in the request labels', async () => {
    // A raw path with a user string (the mock answers 404; the label is what matters).
    await (await fetch(`${gw.baseURL}/models/user-string-8f3a1c`, { headers: { authorization: `Bearer ${TEST_KEY}` } })).arrayBuffer()
    await gw.client().chat.completions.create({ ...chat, model: 'project-x-private-model' })
    let text = ''
    // Both answers are counted when their exchange ends, just after the client's last byte.
    await waitFor(async () => {
      text = await (await fetch(`${gw.url}/metrics`)).text()
      return text.includes('route="/v1/models/{id}"') && text.includes('gateway_requests_total{route="/v1/chat/completions",model="other",key="test",status="200"} 1')
    })
    for (const secret of [TEST_KEY, LIMITED_KEY, ADMIN_KEY, UPSTREAM_KEY, 'sk-unknown']) expect(text).not.toContain(secret)
    expect(text).not.toContain('user-string-8f3a1c')
    const requestLabels = new Scrape((await Scrape.of(gw.url)).select('gateway_requests_total'))
    expect(requestLabels.select('gateway_requests_total', { model: 'project-x-private-model' })).toEqual([])
    expect(requestLabels.sum('gateway_requests_total', { route: CHAT, model: 'other', key: 'test', status: '200' })).toBe(1)
  })

  it('counts an upstream that cannot be reached as a 502 and an upstream error', async () => {
    gw.mock.once((_req, _body, res) => { res.socket?.destroy() })
    await expect(gw.client().chat.completions.create(chat)).rejects.toBeInstanceOf(OpenAI.APIError)
    await waitFor(async () => (await Scrape.of(gw.url)).sum('gateway_upstream_errors_total', { route: CHAT }) === 1)
    const s = await Scrape.of(gw.url)
    expect(s.select('gateway_upstream_errors_total', { route: CHAT })).toEqual([expect.objectContaining({ labels: { route: CHAT, kind: 'error' }, value: 1 })])
    expect(s.sum('gateway_requests_total', { route: CHAT, key: 'test', status: '502' })).toBe(1)
  })
})
