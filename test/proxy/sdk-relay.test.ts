import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type TestGateway } from '../helpers/gateway.js'

describe('the openai SDK through the gateway', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway({}, { chunks: 6 }) })
  afterAll(async () => { await gw.close() })

  it('answers a chat completion with the upstream body and the upstream key', async () => {
    const r = await gw.client().chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] })
    expect(r.choices[0]!.message.content).toBe('Hello from the mock upstream,')
    expect(r.usage?.prompt_tokens).toBe(1000)
    const seen = gw.mock.requests.at(-1)!
    expect(seen.headers.authorization).toBe('Bearer sk-upstream-secret-abcdefghijklmnop')
    expect(seen.headers['accept-encoding']).toBe('identity')
  })

  it('streams a chat completion token by token', async () => {
    const stream = await gw.client().chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }], stream: true })
    const parts: string[] = []
    for await (const chunk of stream) parts.push(chunk.choices[0]?.delta.content ?? '')
    expect(parts.join('')).toBe('Hello from the mock upstream,')
  })

  it('answers a Responses API call, stream and not', async () => {
    const r = await gw.client().responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi' })
    expect(r.output_text).toBe('Hello from the mock upstream,')
    const stream = await gw.client().responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi', stream: true })
    const types: string[] = []
    let text = ''
    for await (const ev of stream) {
      types.push(ev.type)
      if (ev.type === 'response.output_text.delta') text += ev.delta
    }
    expect(types[0]).toBe('response.created')
    expect(types.at(-1)).toBe('response.completed')
    expect(text).toBe('Hello from the mock upstream,')
  })

  it('streams tool calls', async () => {
    const stream = await gw.client().chat.completions.create({
      model: 'gpt-5.2-chat-latest',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      stream: true
    })
    let args = ''
    let finish: string | null | undefined
    for await (const chunk of stream) {
      args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    expect(JSON.parse(args)).toEqual({ city: 'Paris' })
    expect(finish).toBe('tool_calls')
  })

  it('relays /v1/models, /v1/responses/{id} and embeddings', async () => {
    const models = await gw.client().models.list()
    expect(models.data.map((m) => m.id)).toContain('gpt-5.2-chat-latest')
    // Only the key that made a response may read it: made here first.
    const { id } = await gw.client().responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi' })
    const r = await gw.client().responses.retrieve(id)
    expect(r.id).toBe(id)
    const e = await gw.client().embeddings.create({ model: 'text-embedding-3-small', input: 'x' })
    expect(e.data[0]!.embedding.map((x) => Math.round(x * 10) / 10)).toEqual([0.1, 0.2, 0.3])
    const items = await gw.client().responses.inputItems.list(id)
    expect(items.data).toEqual([])
  })
})
