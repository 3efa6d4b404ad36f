import { describe, expect, it } from 'vitest'
import { chatCompletion, chatStreamEvents, DEFAULT_USAGE, responseObject, responsesStreamEvents } from '../../src/mock/upstream.js'
import { estimateInputTokens, estimateOutputTokens } from '../../src/metering/estimate.js'
import { withIncludeUsage } from '../../src/metering/interceptor.js'
import { lastUsageValue, normalizeUsage, usageFromChatChunk, usageFromChatJson, usageFromJson, usageFromResponsesEvent, usageFromResponsesJson, usageFromStreamEvent } from '../../src/metering/usage.js'

const EXPECTED = { input: 1000, cached: 600, output: 500, reasoning: 200 }
const data = (event: string): unknown => JSON.parse(event.slice(event.indexOf('data: ') + 6))

describe('usage extraction per wire shape', () => {
  it('reads a chat completion', () => {
    expect(usageFromChatJson(chatCompletion('m', 3, DEFAULT_USAGE))).toEqual(EXPECTED)
  })

  it('reads the usage-only chat chunk, with choices [], null or missing', () => {
    const events = chatStreamEvents('m', 3, DEFAULT_USAGE)
    const usageChunk = data(events.at(-2)!) as Record<string, unknown>
    expect(usageFromChatChunk(usageChunk)).toEqual(EXPECTED)
    expect(usageFromChatChunk({ ...usageChunk, choices: null })).toEqual(EXPECTED)
    const { choices: _, ...noChoices } = usageChunk
    expect(usageFromChatChunk(noChoices)).toEqual(EXPECTED)
    // Content chunks carry "usage": null when include_usage is on.
    expect(usageFromChatChunk(data(events[1]!))).toBeUndefined()
  })

  it('reads a Responses object and the terminal events of a Responses stream', () => {
    expect(usageFromResponsesJson(responseObject('m', 'hi', DEFAULT_USAGE))).toEqual(EXPECTED)
    for (const terminal of ['completed', 'incomplete', 'failed'] as const) {
      const last = responsesStreamEvents('m', 3, DEFAULT_USAGE, terminal).at(-1)!
      expect(usageFromResponsesEvent(data(last))).toEqual(EXPECTED)
      expect(usageFromStreamEvent(data(last))).toEqual(EXPECTED)
    }
    // response.created carries the response with usage null.
    expect(usageFromResponsesEvent(data(responsesStreamEvents('m', 3, DEFAULT_USAGE)[0]!))).toBeUndefined()
  })

  it('reads embeddings (prompt_tokens only) and compact answers', () => {
    expect(usageFromJson({ object: 'list', data: [], usage: { prompt_tokens: 8, total_tokens: 8 } })).toEqual({ input: 8, cached: 0, output: 0, reasoning: 0 })
    expect(usageFromJson({ object: 'response.compaction', usage: { input_tokens: 10, output_tokens: 2, input_tokens_details: { cached_tokens: 4 } } })).toEqual({ input: 10, cached: 4, output: 2, reasoning: 0 })
    expect(usageFromJson({ object: 'list', data: [] })).toBeUndefined()
    expect(usageFromJson({ usage: 'lots' })).toBeUndefined()
  })

  it('tolerates junk counts and clamps parts to their whole', () => {
    expect(usageFromChatJson({ usage: { prompt_tokens: 10, completion_tokens: null, prompt_tokens_details: { cached_tokens: 50 }, completion_tokens_details: null } })).toEqual({ input: 10, cached: 10, output: 0, reasoning: 0 })
    expect(usageFromChatJson({ usage: { prompt_tokens: -5, completion_tokens: 'x' } })).toEqual({ input: 0, cached: 0, output: 0, reasoning: 0 })
  })
})

describe('usage from the last "usage" key alone (fast path)', () => {
  const fast = (o: unknown): unknown => normalizeUsage(lastUsageValue(Buffer.from(JSON.stringify(o))))

  it('finds the top-level usage of chat and responses bodies', () => {
    expect(fast(chatCompletion('m', 3, DEFAULT_USAGE))).toEqual(EXPECTED)
    expect(fast(responseObject('m', 'hi', DEFAULT_USAGE))).toEqual(EXPECTED)
    expect(normalizeUsage(lastUsageValue(Buffer.from('{"usage" :\n {"prompt_tokens":5,"completion_tokens":1}}')))).toEqual({ input: 5, cached: 0, output: 1, reasoning: 0 })
  })

  it('is not fooled by "usage" inside strings, braces in strings, or a null usage', () => {
    const tricky = chatCompletion('m', 3, DEFAULT_USAGE)
    tricky.choices[0]!.message.content = 'the "usage": {"prompt_tokens": 9} } { and usage'
    expect(fast(tricky)).toEqual(EXPECTED)
    const trailing = { ...responseObject('m', 'hi', DEFAULT_USAGE), note: '"usage":{"x":"}"}' }
    expect(fast(trailing)).toEqual(EXPECTED)
    expect(lastUsageValue(Buffer.from(JSON.stringify(responseObject('m', 'hi', null))))).toBeUndefined()
    expect(lastUsageValue(Buffer.from('{"type":"usage"}'))).toBeUndefined()
    expect(lastUsageValue(Buffer.from('{"usage":{"prompt_tokens":5'))).toBeUndefined()
  })
})

describe('usage estimates', () => {
  it('estimates input from the request text at ~4 bytes a token', () => {
    expect(estimateInputTokens({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(400) }] }, 0)).toBe(Math.ceil(404 / 4))
    expect(estimateInputTokens({ model: 'm', input: 'abcdefgh', instructions: 'abcd' }, 0)).toBe(3)
    expect(estimateInputTokens(undefined, 40)).toBe(10)
  })

  it('estimates output from the delta text relayed, ignoring a cut-off event', () => {
    const events = chatStreamEvents('m', 11, undefined)
    const text = 'Hello from the mock upstream, streamed token by token.'
    const chunks = events.map((e) => Buffer.from(e))
    chunks.push(Buffer.from('data: {"choices":[{"delta":{"content":"cut'))
    const bytes = chunks.reduce((n, c) => n + c.length, 0)
    expect(estimateOutputTokens(chunks, bytes, bytes)).toBe(Math.ceil(Buffer.byteLength(text) / 4))
    const r = responsesStreamEvents('m', 11, DEFAULT_USAGE).slice(0, -1).map((e) => Buffer.from(e))
    const rb = r.reduce((n, c) => n + c.length, 0)
    expect(estimateOutputTokens(r, rb, rb)).toBe(Math.ceil(Buffer.byteLength(text) / 4))
  })

  it('extrapolates when more was relayed than kept', () => {
    const chunk = Buffer.from(chatStreamEvents('m', 2, undefined)[1]!) // content "Hello" (5 bytes)
    expect(estimateOutputTokens([chunk], chunk.length, chunk.length * 8)).toBe(10) // 40 bytes
  })
})

describe('include_usage injection', () => {
  it('splices stream_options into a body without it, keeping every other byte', () => {
    const body = Buffer.from('{ "model":"m","stream":true,"seed":12345678901234567890}')
    const out = withIncludeUsage(body, JSON.parse(body.toString()) as Record<string, unknown>).toString()
    expect(out).toBe('{"stream_options":{"include_usage":true}, "model":"m","stream":true,"seed":12345678901234567890}')
  })

  it('sets include_usage inside existing stream_options', () => {
    const json = { model: 'm', stream: true, stream_options: { include_usage: false, include_obfuscation: false } }
    const out = JSON.parse(withIncludeUsage(Buffer.from(JSON.stringify(json)), json).toString()) as typeof json
    expect(out.stream_options).toEqual({ include_usage: true, include_obfuscation: false })
  })
})
