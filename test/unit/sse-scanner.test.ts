import { describe, expect, it } from 'vitest'
import { SseScanner, sseData, sseEventName } from '../../src/proxy/sse-scanner.js'
import { isUsageOnlyChunk, usageChunkHold } from '../../src/metering/usage-chunk.js'
import { chatStreamEvents, responsesStreamEvents, DEFAULT_USAGE } from '../../src/mock/upstream.js'

/** Feeds `bytes` to a scanner in the given chunk sizes; returns what the client got. */
function run (bytes: Buffer, sizes: number[] | ((i: number) => number), strip = false): { out: Buffer, scanner: SseScanner, writes: number } {
  const scanner = new SseScanner(strip ? usageChunkHold : undefined)
  const out: Buffer[] = []
  let writes = 0
  const write = (b: Buffer): void => { out.push(b); writes++ }
  let at = 0
  let i = 0
  while (at < bytes.length) {
    const size = typeof sizes === 'function' ? sizes(i) : sizes[i % sizes.length]!
    scanner.push(bytes.subarray(at, at + size), write)
    at += size
    i++
  }
  scanner.end(write)
  return { out: Buffer.concat(out), scanner, writes }
}

const chat = Buffer.from(chatStreamEvents('gpt-5.2-chat-latest', 6, DEFAULT_USAGE).join(''))
const chatNoUsage = Buffer.from(chatStreamEvents('gpt-5.2-chat-latest', 6, undefined).join(''))
const responses = Buffer.from(responsesStreamEvents('gpt-5.2-chat-latest', 6, DEFAULT_USAGE).join(''))
const usageEvent = chatStreamEvents('gpt-5.2-chat-latest', 6, DEFAULT_USAGE).at(-2)!

describe('SseScanner pass-through', () => {
  for (const sizes of [[chat.length], [1], [2, 3, 5], [7], [64], [1000]]) {
    it(`relays the same bytes and finds the usage event with chunks of ${sizes.join('/')}`, () => {
      const { out, scanner } = run(chat, sizes)
      expect(out.equals(chat)).toBe(true)
      expect(scanner.sawDone).toBe(true)
      expect(scanner.lastEvent?.toString()).toBe(usageEvent)
      expect(scanner.events).toBe(chatStreamEvents('x', 6, DEFAULT_USAGE).length)
    })
  }

  it('writes each chunk as it came, without copies', () => {
    const scanner = new SseScanner()
    const chunk = Buffer.from('data: {"a":1}\n\ndata: {"b"')
    const seen: Buffer[] = []
    scanner.push(chunk, (b) => seen.push(b))
    expect(seen).toHaveLength(1)
    expect(seen[0]).toBe(chunk)
  })

  it('copes with CRLF line ends split across chunks, comments and multi-byte UTF-8', () => {
    const text = ': keep-alive\r\n\r\ndata: {"t":"héllo 👋"}\r\n\r\ndata: {"t":"end"}\r\n\r\n'
    const bytes = Buffer.from(text)
    for (let size = 1; size < 12; size++) {
      const { out, scanner } = run(bytes, [size])
      expect(out.equals(bytes)).toBe(true)
      expect(scanner.events).toBe(3)
      expect(sseData(scanner.lastEvent!)).toBe('{"t":"end"}')
    }
    const { scanner } = run(bytes, [17])
    expect(sseData(run(Buffer.from('data: {"t":"héllo 👋"}\r\n\r\n'), [19]).scanner.lastEvent!)).toBe('{"t":"héllo 👋"}')
    expect(scanner.events).toBe(3)
  })

  it('treats bare CR line ends as line ends', () => {
    const { scanner } = run(Buffer.from('data: {"a":1}\r\rdata: {"b":2}\r\r'), [3])
    expect(scanner.events).toBe(2)
    expect(sseData(scanner.lastEvent!)).toBe('{"b":2}')
  })

  it('keeps a 200 KB event whole', () => {
    const big = 'data: {"x":"' + 'a'.repeat(200_000) + '"}\n\n'
    const bytes = Buffer.from(big + 'data: [DONE]\n\n')
    const { out, scanner } = run(bytes, [16_384])
    expect(out.equals(bytes)).toBe(true)
    expect(scanner.lastEvent!.toString()).toBe(big)
  })

  it('finds the terminal event of a Responses stream', () => {
    const { out, scanner } = run(responses, [13])
    expect(out.equals(responses)).toBe(true)
    expect(sseEventName(scanner.lastEvent!)).toBe('response.completed')
    expect(JSON.parse(sseData(scanner.lastEvent!)!).response.usage.input_tokens).toBe(1000)
    expect(scanner.sawDone).toBe(false)
  })

  it('counts a final event without its blank line', () => {
    const { scanner } = run(Buffer.from('data: {"a":1}\n\ndata: {"b":2}\n'), [5])
    expect(sseData(scanner.lastEvent!)).toBe('{"b":2}')
  })
})

describe('SseScanner strip mode', () => {
  for (const sizes of [[chat.length], [1], [3], [10], [100], [250]]) {
    it(`removes exactly the usage-only chunk with chunks of ${sizes.join('/')}`, () => {
      const { out, scanner } = run(chat, sizes, true)
      expect(out.toString()).toBe(chat.toString().replace(usageEvent, ''))
      expect(scanner.strippedEvent?.toString()).toBe(usageEvent)
      expect(scanner.sawDone).toBe(true)
    })
  }

  it('leaves a stream without a usage chunk untouched', () => {
    const { out, scanner } = run(chatNoUsage, [9], true)
    expect(out.equals(chatNoUsage)).toBe(true)
    expect(scanner.strippedEvent).toBeUndefined()
  })

  it('lets a normal chunk flow once its choices show, before the event ends', () => {
    const scanner = new SseScanner(usageChunkHold)
    const seen: string[] = []
    scanner.push(Buffer.from('data: {"id":"x","choices":[{"index":0,"delta":{"content":"hel'), (b) => seen.push(b.toString()))
    expect(seen.join('')).toContain('"content":"hel')
  })

  it('lets through empty-choices chunks that carry no usage (e.g. prompt filter results)', () => {
    const bytes = Buffer.from('data: {"choices":[],"prompt_filter_results":[]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":1}}\n\ndata: [DONE]\n\n')
    const { out } = run(bytes, [4], true)
    expect(out.toString()).toBe('data: {"choices":[],"prompt_filter_results":[]}\n\ndata: [DONE]\n\n')
  })
})

describe('isUsageOnlyChunk', () => {
  it('knows the usage chunk in its variants', () => {
    expect(isUsageOnlyChunk(Buffer.from(usageEvent))).toBe(true)
    expect(isUsageOnlyChunk(Buffer.from('data: {"choices":null,"usage":{"prompt_tokens":1}}\n\n'))).toBe(true)
    expect(isUsageOnlyChunk(Buffer.from('data: {"usage":{"prompt_tokens":1}}\n\n'))).toBe(true)
    expect(isUsageOnlyChunk(Buffer.from('data: {"choices":[{"index":0}],"usage":{"prompt_tokens":1}}\n\n'))).toBe(false)
    expect(isUsageOnlyChunk(Buffer.from('data: {"choices":[],"usage":null}\n\n'))).toBe(false)
    expect(isUsageOnlyChunk(Buffer.from('data: [DONE]\n\n'))).toBe(false)
  })
})
