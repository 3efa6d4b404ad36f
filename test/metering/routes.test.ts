import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { chatCompletion, DEFAULT_USAGE, responsesStreamEvents } from '../../src/mock/upstream.js'
import { startGateway, TEST_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'
import { CHAT, HAND_USD, metricValue, post, usage } from './helpers.js'

/** The ledger's totals for one model today, read through the admin API. */
async function modelRow (gw: TestGateway, model: string): Promise<Record<string, unknown> | undefined> {
  const { body } = await usage(gw, '?group_by=model')
  return body.data.find((r) => r.model === model)
}

describe('metering every route at the hand-computed price', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway({
      aliases: { 'gpt-5.2': 'gpt-5.2-chat-latest' },
      pricing: { 'text-embedding-3-small': { input: 0.02, output: 0 } }
    }, { chunks: 6 })
  })
  afterAll(async () => { await gw.close() })
  // Each test reads the ledger's growth from its own starting point.
  let before: { cost: number, requests: number }
  beforeEach(async () => {
    const { body } = await usage(gw, '?group_by=')
    before = { cost: body.total_cost_usd, requests: Number(body.data[0]?.requests ?? 0) }
  })
  const grown = async (): Promise<{ cost: number, requests: number }> => {
    const { body } = await usage(gw, '?group_by=')
    return { cost: Math.round((body.total_cost_usd - before.cost) * 1e9) / 1e9, requests: Number(body.data[0]?.requests ?? 0) - before.requests }
  }

  it('chat JSON: $0.006265 in the header, the ledger and the log line', async () => {
    const { data, response } = await gw.client().chat.completions.create(CHAT).withResponse()
    expect(data.usage?.prompt_tokens).toBe(1000)
    expect(response.headers.get('x-gateway-cost-usd')).toBe('0.006265')
    expect(await grown()).toEqual({ cost: HAND_USD, requests: 1 })
    const line = JSON.parse(gw.logs.findLast((l) => l.includes('"route":"/v1/chat/completions"'))!) as Record<string, unknown>
    expect(line).toMatchObject({ costUsd: HAND_USD, tokens: { input: 1000, cached: 600, output: 500, reasoning: 200 } })
  })

  it('chat stream without include_usage: metered exactly, the usage chunk never reaches the client', async () => {
    const stream = await gw.client().chat.completions.create({ ...CHAT, stream: true })
    const chunks = []
    for await (const c of stream) chunks.push(c)
    expect(chunks.every((c) => c.usage === undefined || c.usage === null)).toBe(true)
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true)
    const sent = JSON.parse(gw.mock.requests.at(-1)!.body.toString()) as { stream_options: unknown }
    expect(sent.stream_options).toEqual({ include_usage: true })
    expect(await grown()).toEqual({ cost: HAND_USD, requests: 1 })
  })

  it('chat stream with include_usage: the client gets its usage chunk and the same price', async () => {
    const stream = await gw.client().chat.completions.create({ ...CHAT, stream: true, stream_options: { include_usage: true } })
    let usageSeen
    for await (const c of stream) usageSeen = c.usage ?? usageSeen
    expect(usageSeen?.completion_tokens).toBe(500)
    expect(await grown()).toEqual({ cost: HAND_USD, requests: 1 })
  })

  it('responses JSON and a responses stream ending in response.incomplete', async () => {
    const { response } = await gw.client().responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi' }).withResponse()
    expect(response.headers.get('x-gateway-cost-usd')).toBe('0.006265')
    gw.mock.once((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const e of responsesStreamEvents('gpt-5.2-chat-latest', 3, DEFAULT_USAGE, 'incomplete')) res.write(e)
      res.end()
    })
    const stream = await gw.client().responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi', stream: true, max_output_tokens: 500 })
    let last = ''
    for await (const ev of stream) last = ev.type
    expect(last).toBe('response.incomplete')
    expect(await grown()).toEqual({ cost: 2 * HAND_USD, requests: 2 })
  })

  it('a responses stream ending in response.failed is still billed', async () => {
    gw.mock.once((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const e of responsesStreamEvents('gpt-5.2-chat-latest', 3, DEFAULT_USAGE, 'failed')) res.write(e)
      res.end()
    })
    const res = await post(gw, '/responses', { model: 'gpt-5.2-chat-latest', input: 'hi', stream: true })
    expect(await res.text()).toContain('response.failed')
    expect(await grown()).toEqual({ cost: HAND_USD, requests: 1 })
  })

  it('meters under the client model after aliases, not the dated name the upstream answers with', async () => {
    gw.mock.once((_req, _body, res) => {
      const text = JSON.stringify(chatCompletion('gpt-5.2-chat-latest-2026-01-01', 3, DEFAULT_USAGE))
      res.writeHead(200, { 'content-type': 'application/json' }).end(text)
    })
    const r = await gw.client().chat.completions.create({ ...CHAT, model: 'gpt-5.2' }).withResponse()
    expect(r.response.headers.get('x-gateway-cost-usd')).toBe('0.006265')
    const dated = await gw.client().chat.completions.create({ ...CHAT, model: 'gpt-5.2-chat-latest-2026-01-01' }).withResponse()
    expect(dated.response.headers.get('x-gateway-cost-usd')).toBe('0.006265')
    expect(await modelRow(gw, 'gpt-5.2')).toBeUndefined()
    expect(await modelRow(gw, 'gpt-5.2-chat-latest-2026-01-01')).toMatchObject({ requests: 1, cost_usd: HAND_USD })
    expect(await grown()).toEqual({ cost: 2 * HAND_USD, requests: 2 })
  })

  it('embeddings (prompt tokens only) and /v1/responses/compact', async () => {
    const e = await gw.client().embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).withResponse()
    // 1,000 input tokens × $0.02 per 1M
    expect(e.response.headers.get('x-gateway-cost-usd')).toBe('0.00002')
    const c = await post(gw, '/responses/compact', { model: 'gpt-5.2-chat-latest', input: [] })
    expect(c.headers.get('x-gateway-cost-usd')).toBe('0.006265')
    expect(await modelRow(gw, 'text-embedding-3-small')).toMatchObject({ input_tokens: 1000, output_tokens: 0, cost_usd: 0.00002 })
    expect(await grown()).toEqual({ cost: HAND_USD + 0.00002, requests: 2 })
  })

  it('does not bill reading a stored response again', async () => {
    // Made through the gateway (only its creator may read it), then counted from here.
    const { id } = await gw.client().responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi' })
    const { body } = await usage(gw, '?group_by=')
    before = { cost: body.total_cost_usd, requests: Number(body.data[0]?.requests ?? 0) }
    const res = await fetch(`${gw.baseURL}/responses/${id}`, { headers: { authorization: `Bearer ${TEST_KEY}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-gateway-cost-usd')).toBe('0')
    expect(await grown()).toEqual({ cost: 0, requests: 0 })
  })

  it('counts tokens of an unpriced model and says so (never a silent zero)', async () => {
    const res = await gw.client().chat.completions.create({ ...CHAT, model: 'mystery-model' }).withResponse()
    expect(res.response.headers.get('x-gateway-cost-usd')).toBeNull()
    expect(await metricValue(gw, 'gateway_unpriced_requests_total', { model: 'mystery-model' })).toBe(1)
    expect(await modelRow(gw, 'mystery-model')).toMatchObject({ requests: 1, input_tokens: 1000, output_tokens: 500, cost_usd: 0 })
    await waitFor(() => gw.logs.some((l) => l.includes('"model":"mystery-model"') && l.includes('"tokens"')))
  })

  it('/metrics counters match the ledger', async () => {
    const { body } = await usage(gw, '?group_by=model')
    const row = body.data.find((r) => r.model === 'gpt-5.2-chat-latest')!
    const labels = { model: 'gpt-5.2-chat-latest', key: 'test' }
    // The dated model of an earlier test is priced (and labelled) as gpt-5.2-chat-latest.
    const dated = body.data.find((r) => r.model === 'gpt-5.2-chat-latest-2026-01-01')!
    expect(await metricValue(gw, 'gateway_cost_usd_total', labels)).toBeCloseTo(Number(row.cost_usd) + Number(dated.cost_usd), 12)
    for (const [type, field] of [['input', 'input_tokens'], ['cached_input', 'cached_input_tokens'], ['output', 'output_tokens'], ['reasoning', 'reasoning_tokens']] as const) {
      expect(await metricValue(gw, 'gateway_tokens_total', { ...labels, type })).toBe(Number(row[field]) + Number(dated[field]))
    }
    expect(await metricValue(gw, 'gateway_requests_total', { model: 'gpt-5.2-chat-latest', key: 'test' })).toBeGreaterThanOrEqual(Number(row.requests))
  })
})
