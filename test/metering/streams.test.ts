import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatStreamEvents, DEFAULT_USAGE } from '../../src/mock/upstream.js'
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'
import { CHAT, HAND_USD, metricValue, post, usage } from './helpers.js'

describe('client stream bytes', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway({}, { chunks: 6 }) })
  afterAll(async () => { await gw.close() })

  it('without include_usage: the upstream bytes minus exactly the injected usage chunk', async () => {
    const res = await post(gw, '/chat/completions', { ...CHAT, stream: true })
    const got = Buffer.from(await res.arrayBuffer()).toString()
    // What the mock wrote once the gateway asked for usage: every chunk, "usage":null included.
    const upstream = chatStreamEvents(CHAT.model, 6, DEFAULT_USAGE)
    const usageChunk = upstream.at(-2)!
    expect(usageChunk).toContain('"choices":[],"usage":{')
    expect(got).toBe(upstream.filter((e) => e !== usageChunk).join(''))
    expect(res.headers.get('x-gateway-cost-usd')).toBeNull()
  })

  it('with include_usage: exactly the upstream bytes', async () => {
    const res = await post(gw, '/chat/completions', { ...CHAT, stream: true, stream_options: { include_usage: true } })
    const got = Buffer.from(await res.arrayBuffer()).toString()
    expect(got).toBe(chatStreamEvents(CHAT.model, 6, DEFAULT_USAGE).join(''))
  })

  it('a client that leaves mid-stream gets an estimated record and the upstream request ends', async () => {
    gw.mock.options.chunks = 400
    gw.mock.options.chunkDelayMs = 10
    try {
      const stream = await gw.client().chat.completions.create({ ...CHAT, messages: [{ role: 'user', content: 'x'.repeat(400) }], stream: true })
      let n = 0
      for await (const c of stream) {
        if (c.choices[0]?.delta.content) n++
        if (n === 5) break // the SDK aborts the request
      }
      const upstream = gw.mock.requests.at(-1)!
      await waitFor(() => upstream.aborted, 5_000)
      await waitFor(() => gw.logs.some((l) => l.includes('"outcome":"client_abort"')))
    } finally {
      gw.mock.options.chunks = 6
      gw.mock.options.chunkDelayMs = 0
    }
    const line = JSON.parse(gw.logs.find((l) => l.includes('"outcome":"client_abort"'))!) as { estimated: boolean, costUsd: number, tokens: { input: number, output: number, cached: number } }
    expect(line.estimated).toBe(true)
    // Input: the message strings ("user" + 400 × "x") at 4 bytes a token; output from the
    // text relayed so far (at least the 5 words read).
    expect(line.tokens.input).toBe(101)
    expect(line.tokens.output).toBeGreaterThanOrEqual(Math.ceil('Hello from the mock upstream'.length / 4))
    expect(line.costUsd).toBeCloseTo((line.tokens.input * 1.40 + line.tokens.output * 11.20) / 1e6, 12)
    expect(await metricValue(gw, 'gateway_estimated_usage_total', { reason: 'client_abort' })).toBe(1)
    const { body } = await usage(gw, '?group_by=')
    expect(body.total_cost_usd).toBeCloseTo(2 * HAND_USD + line.costUsd, 12)
  })
})

describe('streams that end without usage, or with odd usage chunks', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway({}, { chunks: 6 }) })
  afterAll(async () => { await gw.close() })
  const lastLine = (): { estimated?: boolean, costUsd: number, outcome: string, tokens: { input: number, output: number } } => JSON.parse(gw.logs.findLast((l) => l.includes('"route":"/v1/chat/completions"'))!)

  it('an upstream that breaks mid-stream: estimated from what was relayed', async () => {
    gw.mock.once((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const e of chatStreamEvents(CHAT.model, 11, DEFAULT_USAGE).slice(0, 6)) res.write(e)
      setTimeout(() => res.destroy(), 50)
    })
    const res = await post(gw, '/chat/completions', { ...CHAT, stream: true })
    // The client's connection is cut after what was relayed: it knows the stream is truncated.
    await expect(res.text()).rejects.toThrow('terminated')
    await waitFor(() => gw.logs.some((l) => l.includes('"outcome":"upstream_error"')))
    const line = lastLine()
    // "Hello from the mock upstream" (28 bytes) relayed: 7 tokens; input "user" + "hi": 2 tokens.
    expect(line).toMatchObject({ estimated: true, outcome: 'upstream_error', tokens: { input: 2, output: 7 } })
    expect(line.costUsd).toBe((2 * 1.40 + 7 * 11.20) / 1e6)
    expect(await metricValue(gw, 'gateway_estimated_usage_total', { reason: 'upstream_error' })).toBe(1)
  })

  it('a client that leaves a Responses stream: estimated from the output_text deltas', async () => {
    gw.mock.options.chunks = 400
    gw.mock.options.chunkDelayMs = 10
    try {
      const stream = await gw.client().responses.create({ model: 'gpt-5.2-chat-latest', input: 'abcdefgh', stream: true })
      let deltas = 0
      for await (const ev of stream) if (ev.type === 'response.output_text.delta' && ++deltas === 5) break
      await waitFor(() => gw.mock.requests.at(-1)!.aborted, 5_000)
      await waitFor(() => gw.logs.some((l) => l.includes('"route":"/v1/responses"') && l.includes('"outcome":"client_abort"')))
    } finally {
      gw.mock.options.chunks = 6
      gw.mock.options.chunkDelayMs = 0
    }
    const line = JSON.parse(gw.logs.findLast((l) => l.includes('"route":"/v1/responses"'))!) as { estimated: boolean, tokens: { input: number, output: number } }
    expect(line.estimated).toBe(true)
    expect(line.tokens.input).toBe(2) // "abcdefgh"
    expect(line.tokens.output).toBeGreaterThanOrEqual(Math.ceil('Hello from the mock upstream'.length / 4))
  })

  it('an upstream that ignores include_usage: estimated, marked no_usage', async () => {
    gw.mock.once((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const e of chatStreamEvents(CHAT.model, 6, undefined)) res.write(e)
      res.end()
    })
    const text = await (await post(gw, '/chat/completions', { ...CHAT, stream: true })).text()
    expect(text).toBe(chatStreamEvents(CHAT.model, 6, undefined).join(''))
    await waitFor(async () => await metricValue(gw, 'gateway_estimated_usage_total', { reason: 'no_usage' }) === 1)
    expect(lastLine()).toMatchObject({ estimated: true, tokens: { input: 2, output: Math.ceil('Hello from the mock upstream,'.length / 4) } })
  })

  it('a usage chunk with "choices": null is stripped and billed exactly', async () => {
    const events = chatStreamEvents(CHAT.model, 6, DEFAULT_USAGE).map((e) => e.replace('"choices":[],"usage"', '"choices":null,"usage"'))
    gw.mock.once((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const e of events) res.write(e)
      res.end()
    })
    const text = await (await post(gw, '/chat/completions', { ...CHAT, stream: true })).text()
    expect(text).toBe(events.filter((e) => !e.includes('"choices":null')).join(''))
    await waitFor(() => lastLine().costUsd === HAND_USD)
    expect(lastLine().estimated).toBeUndefined()
  })
})

describe('cache hits', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway({ CACHE_TTL_SECONDS: 60 }, { chunks: 4 }) })
  afterAll(async () => { await gw.close() })

  it('cost 0, count as requests and hits, and add what they would have cost to saved', async () => {
    const first = await post(gw, '/chat/completions', CHAT)
    expect(first.headers.get('x-gateway-cost-usd')).toBe('0.006265')
    await first.text()
    await waitFor(async () => {
      const again = await post(gw, '/chat/completions', CHAT)
      await again.text()
      return again.headers.get('x-gateway-cache') === 'HIT' && again.headers.get('x-gateway-cost-usd') === '0'
    })
    const { body } = await usage(gw, '?group_by=key,model')
    expect(body.data).toHaveLength(1)
    const row = body.data[0]!
    const hits = Number(row.cache_hits)
    expect(hits).toBeGreaterThanOrEqual(1)
    expect(row).toMatchObject({ key_name: 'test', model: 'gpt-5.2-chat-latest', input_tokens: 1000 * (Number(row.requests) - hits) })
    expect(row.cost_usd).toBeCloseTo(HAND_USD * (Number(row.requests) - hits), 12)
    expect(row.saved_usd).toBeCloseTo(HAND_USD * hits, 12)
    expect(body.total_cost_usd).toBe(row.cost_usd)
    expect(await metricValue(gw, 'gateway_cache_saved_usd_total', { model: 'gpt-5.2-chat-latest', key: 'test' })).toBeCloseTo(HAND_USD * hits, 12)
  })

  it('a replayed stream is a hit too', async () => {
    const before = (await usage(gw, '?group_by=')).body.data[0]!
    const body = { ...CHAT, messages: [{ role: 'user', content: 'stream me' }], stream: true }
    await (await post(gw, '/chat/completions', body)).text()
    let text = ''
    await waitFor(async () => {
      const again = await post(gw, '/chat/completions', body)
      text = await again.text()
      return again.headers.get('x-gateway-cache') === 'HIT'
    })
    expect(text).not.toContain('"usage":{')
    const after = (await usage(gw, '?group_by=')).body.data[0]!
    expect(Number(after.cost_usd) - Number(before.cost_usd)).toBeCloseTo(HAND_USD, 12)
    expect(Number(after.saved_usd) - Number(before.saved_usd)).toBeCloseTo(HAND_USD * (Number(after.cache_hits) - Number(before.cache_hits)), 12)
  })
})
