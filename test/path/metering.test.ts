import { describe, expect, it } from 'vitest'
import type { KeyPrincipal } from '../../src/auth/principal.js'
import { meteringInterceptor } from '../../src/metering/interceptor.js'
import { createPriceTable, DEFAULT_PRICING } from '../../src/metering/pricing.js'
import type { UsageRecord } from '../../src/metering/record.js'
import { chatStreamEvents, DEFAULT_USAGE, chatUsage } from '../../src/mock/upstream.js'
import { compose } from '../../src/proxy/interceptor.js'
import { Collector, FakeUpstream, gatewayRequest } from './fake-dispatch.js'

const MODEL = 'gpt-5.2-chat-latest'
// 1000 input (600 cached), 500 output at the default prices, in nano-dollars.
const COST = (400 * 1.40 + 600 * 0.175 + 500 * 11.20) * 1000

function setup () {
  const records: Array<{ record: UsageRecord, reason: string | undefined }> = []
  const upstream = new FakeUpstream()
  const dispatch = compose<KeyPrincipal>(upstream.dispatch, meteringInterceptor({ prices: createPriceTable(DEFAULT_PRICING), onRecord: (record, reason) => records.push({ record, reason }) }))
  return { records, upstream, dispatch }
}

describe('metering interceptor', () => {
  it('asks a chat stream for usage, strips the usage chunk from the client, and passes the usage out', () => {
    const { records, upstream, dispatch } = setup()
    const client = new Collector()
    dispatch(gatewayRequest({ json: { model: MODEL, stream: true, messages: [] } }), client)
    const sent = JSON.parse(upstream.last().req.body!.toString()) as { stream_options?: unknown }
    expect(sent.stream_options).toEqual({ include_usage: true })
    const events = chatStreamEvents(MODEL, 3, DEFAULT_USAGE)
    upstream.sse()
    for (const e of events) upstream.chunk(e)
    upstream.end()
    const usageEvent = events.at(-2)!
    expect(client.text()).toBe(events.join('').replace(usageEvent, ''))
    expect(client.end?.usage).toMatchObject({ model: MODEL, label: MODEL, inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, costNanos: COST, estimated: false })
    expect(records).toHaveLength(1)
    expect(records[0]!.record).toMatchObject({ keyName: 'test', costNanos: COST, cacheHit: false, savedNanos: 0 })
  })

  it('leaves a stream untouched when the client asked for usage itself', () => {
    const { upstream, dispatch } = setup()
    const client = new Collector()
    const json = { model: MODEL, stream: true, stream_options: { include_usage: true }, messages: [] }
    const req = gatewayRequest({ json })
    dispatch(req, client)
    expect(upstream.last().req.body).toBe(req.body)
    const events = chatStreamEvents(MODEL, 2, DEFAULT_USAGE)
    upstream.sse()
    for (const e of events) upstream.chunk(e)
    upstream.end()
    expect(client.text()).toBe(events.join(''))
    expect(client.end?.usage?.costNanos).toBe(COST)
  })

  it('reads usage from a buffered answer and sets the cost header', () => {
    const { records, upstream, dispatch } = setup()
    const client = new Collector()
    dispatch(gatewayRequest({ json: { model: MODEL, messages: [] } }), client)
    upstream.json(200, { id: 'c', model: 'gpt-5.2-2026-01-01', usage: chatUsage(DEFAULT_USAGE) })
    expect(client.head?.headers['x-gateway-cost-usd']).toBe('0.006265')
    expect(client.end?.usage?.costNanos).toBe(COST)
    expect(records[0]!.record.model).toBe(MODEL)
  })

  it('meters a cache hit at $0 and counts what it saved', () => {
    const { records, upstream, dispatch } = setup()
    const client = new Collector()
    dispatch(gatewayRequest({ json: { model: MODEL, messages: [] } }), client)
    upstream.json(200, { id: 'c', usage: chatUsage(DEFAULT_USAGE) }, { 'x-gateway-cache': 'HIT' })
    expect(client.head?.headers['x-gateway-cost-usd']).toBe('0')
    expect(client.end?.usage?.costNanos).toBe(0)
    expect(records[0]!.record).toMatchObject({ cacheHit: true, costNanos: 0, savedNanos: COST })
  })

  it('estimates the usage of a stream the client left, and says why', () => {
    const { records, upstream, dispatch } = setup()
    const client = new Collector()
    dispatch(gatewayRequest({ json: { model: MODEL, stream: true, messages: [{ role: 'user', content: 'hello there' }] } }), client)
    upstream.sse()
    upstream.chunk(chatStreamEvents(MODEL, 4, undefined)[1]!)
    upstream.end({ outcome: 'client_abort' })
    expect(client.end).toMatchObject({ outcome: 'client_abort', usage: { estimated: true } })
    expect(records[0]).toMatchObject({ reason: 'client_abort', record: { estimated: true } })
  })

  it('records nothing for an answer without usage, and prices no error', () => {
    const { records, upstream, dispatch } = setup()
    const client = new Collector()
    dispatch(gatewayRequest({ json: { model: MODEL, messages: [] } }), client)
    upstream.json(500, { error: { message: 'boom' } })
    expect(client.end?.usage).toBeUndefined()
    expect(client.head?.headers['x-gateway-cost-usd']).toBe('0')
    expect(records).toHaveLength(0)
  })
})
