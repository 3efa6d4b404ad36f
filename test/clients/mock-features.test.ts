import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { zodResponseFormat } from 'openai/helpers/zod'
import { z } from 'zod'
import { startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'

/**
 * The bundled mock upstream, through a real gateway with the real openai SDK: the features
 * SDK helpers and agent loops depend on (tool calls that end, structured outputs, the
 * Responses stream's event shapes, GET /v1/models/{id}).
 */
const MODEL = 'gpt-5.2-chat-latest'
const tools = [{ type: 'function' as const, function: { name: 'lookup_order', parameters: { type: 'object', properties: { order_id: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } }, required: ['order_id', 'quantity'] } } }]

describe('the mock upstream behind the gateway', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway() })
  afterAll(async () => { await gw?.close() })

  it('answers chat with one tool call for the requested tool, then a final answer once the tool result comes', async () => {
    const first = await gw.client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'where is my order?' }], tools })
    const call = first.choices[0]!.message.tool_calls![0]!
    expect(first.choices[0]!.finish_reason).toBe('tool_calls')
    expect(call.type === 'function' && call.function.name).toBe('lookup_order')
    expect(JSON.parse(call.type === 'function' ? call.function.arguments : '')).toEqual({ order_id: 'mock order_id', quantity: 42 })
    const second = await gw.client().chat.completions.create({
      model: MODEL,
      tools,
      messages: [{ role: 'user', content: 'where is my order?' }, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: 'shipped' }]
    })
    expect(second.choices[0]!.finish_reason).toBe('stop')
    expect(second.choices[0]!.message.content).toBe('The tool answered: shipped')
    expect(second.choices[0]!.message.tool_calls).toBeUndefined()
  })

  it('does not call a tool when tool_choice is none, and calls the named one when asked', async () => {
    const two = [...tools, { type: 'function' as const, function: { name: 'other', parameters: { type: 'object', properties: {} } } }]
    const none = await gw.client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], tools: two, tool_choice: 'none' })
    expect(none.choices[0]!.message.content).toBe('Hello from the mock upstream')
    const named = await gw.client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], tools: two, tool_choice: { type: 'function', function: { name: 'other' } } })
    const call = named.choices[0]!.message.tool_calls![0]!
    expect(call.type === 'function' && call.function.name).toBe('other')
  })

  it('streams a tool call, and after the tool result streams text with no tool call', async () => {
    const collect = async (messages: any[]): Promise<{ text: string, args: string, finish: string | null }> => {
      const stream = await gw.client().chat.completions.create({ model: MODEL, messages, tools, stream: true })
      const out = { text: '', args: '', finish: null as string | null }
      for await (const chunk of stream) {
        out.text += chunk.choices[0]?.delta.content ?? ''
        out.args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? ''
        out.finish = chunk.choices[0]?.finish_reason ?? out.finish
      }
      return out
    }
    const first = await collect([{ role: 'user', content: 'x' }])
    expect(first).toEqual({ text: '', args: '{"order_id":"mock order_id","quantity":42}', finish: 'tool_calls' })
    const second = await collect([
      { role: 'user', content: 'x' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_mock_1', type: 'function', function: { name: 'lookup_order', arguments: first.args } }] },
      { role: 'tool', tool_call_id: 'call_mock_1', content: [{ type: 'text', text: 'shipped' }] }
    ])
    expect(second).toEqual({ text: 'The tool answered: shipped', args: '', finish: 'stop' })
  })

  it('answers response_format json_schema (chat.completions.parse) and json_object with JSON, streamed too', async () => {
    const Order = z.object({ id: z.string(), items: z.array(z.object({ sku: z.string(), qty: z.number().int().min(1) })).min(1), status: z.enum(['open', 'shipped']) })
    const parsed = await gw.client().chat.completions.parse({ model: MODEL, messages: [{ role: 'user', content: 'x' }], response_format: zodResponseFormat(Order, 'order') })
    expect(Order.parse(parsed.choices[0]!.message.parsed)).toEqual({ id: 'mock id', items: [{ sku: 'mock sku', qty: 42 }], status: 'open' })
    const object = await gw.client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' } })
    expect(JSON.parse(object.choices[0]!.message.content!)).toEqual({ answer: 'mock answer' })
    const stream = await gw.client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], response_format: zodResponseFormat(Order, 'order'), stream: true })
    let text = ''
    let chunks = 0
    for await (const chunk of stream) { text += chunk.choices[0]?.delta.content ?? ''; chunks++ }
    expect(Order.parse(JSON.parse(text)).status).toBe('open')
    expect(chunks).toBeGreaterThan(3)
  })

  it('answers Responses text.format json_schema, function tools and function_call_output', async () => {
    const r = await gw.client().responses.create({ model: MODEL, input: 'x', text: { format: { type: 'json_schema', name: 'w', schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }, strict: true } } })
    expect(JSON.parse(r.output_text)).toEqual({ city: 'Paris' })
    const fnTools = [{ type: 'function' as const, name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: false }]
    const call = await gw.client().responses.create({ model: MODEL, input: 'weather?', tools: fnTools })
    expect(call.output).toEqual([expect.objectContaining({ type: 'function_call', name: 'get_weather', arguments: '{"city":"Paris"}', call_id: 'call_mock_1' })])
    const done = await gw.client().responses.create({
      model: MODEL,
      tools: fnTools,
      input: [{ role: 'user', content: 'weather?' }, call.output[0] as any, { type: 'function_call_output', call_id: 'call_mock_1', output: 'sunny' }]
    })
    expect(done.output_text).toBe('The tool answered: sunny')
  })

  it('streams Responses with an empty output in response.created, so the SDK stream helper assembles it', async () => {
    const raw = await fetch(`${gw.baseURL}/responses`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, input: 'x', stream: true }) })
    const events = (await raw.text()).split('\n\n').filter((e) => e.includes('data: ')).map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)))
    expect(events[0].type).toBe('response.created')
    expect(events[0].response.output).toEqual([])
    expect(events[1].response.output).toEqual([])
    const stream = gw.client().responses.stream({ model: MODEL, input: 'x' })
    expect((await stream.finalResponse()).output_text).toBe('Hello from the mock upstream')
    const tool = gw.client().responses.stream({ model: MODEL, input: 'x', tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false }] })
    const final = await tool.finalResponse()
    expect(final.output).toEqual([expect.objectContaining({ type: 'function_call', name: 'get_weather', arguments: '{"city":"Paris"}' })])
  })

  it('answers GET /v1/models/{id}', async () => {
    const m = await gw.client().models.retrieve('gpt-5-mini')
    expect(m).toEqual(expect.objectContaining({ id: 'gpt-5-mini', object: 'model' }))
  })
})
