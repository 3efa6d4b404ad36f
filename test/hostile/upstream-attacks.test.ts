import { gunzipSync, brotliDecompressSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectUnharmed, runAttack, startScene, type Scene } from './upstream-scene.js'

const MiB = 1024 * 1024

/**
 * An upstream that bloats or lies, against a gateway in its own process: it stays alive,
 * bounded and responsive for a bystander; the client learns what happened (a stream the
 * upstream broke is cut, a JSON answer that broke is a 502, never a truncated 200); and
 * every answer is metered, estimated when the upstream gave no usage it could read.
 * One file, run in order: the attacks must not compete with each other for the CPU the
 * bystander is timed on.
 */
let s: Scene
beforeAll(async () => { s = await startScene() })
afterAll(async () => { await s?.close() })

describe('a hostile upstream stream', () => {
  it('a 1 GiB event without a newline ends the stream before MAX_EVENT_BYTES, estimated', async () => {
    const { result, times, share, rssBefore } = await runAttack(s, 'huge-event', { mb: 1024, stream: true })
    // The stream ends cleanly (chunked terminator) short of the 16 MiB bound: the event was
    // cut, the upstream request aborted, nothing more of it relayed.
    expect(result.status).toBe(200)
    expect(result.complete).toBe(true)
    expect(result.bytes).toBeGreaterThan(0)
    expect(result.bytes).toBeLessThanOrEqual(16 * MiB)
    expect(share.requests).toBe(1)
    expect(share.estimated).toEqual({ event_too_large: 1 })
    // Estimated from the bytes that came: about 4 a token.
    expect(share.outputTokens).toBeGreaterThan(result.bytes / 8)
    await expectUnharmed(s, times, rssBefore)
  })

  it('a 32 MiB event whose choices come late: it flows after a bounded hold, then is cut, estimated', async () => {
    // No stream_options: the gateway asks for usage and holds chunks that may be the usage chunk.
    const { result, times, share, rssBefore } = await runAttack(s, 'late-choices', { mb: 32, stream: true })
    expect(result.complete).toBe(true)
    expect(result.firstByteMs).toBeLessThan(2000)
    expect(result.head.toString().startsWith('data: {"id":"x","object":"chat.completion.chunk","pad":"aaaa')).toBe(true)
    expect(result.bytes).toBeLessThanOrEqual(16 * MiB)
    expect(share.requests).toBe(1)
    expect(share.estimated).toEqual({ event_too_large: 1 })
    await expectUnharmed(s, times, rssBefore)
  })

  it('an 8 MiB event whose choices come late flows at once, and the usage chunk is still stripped and exact', async () => {
    const { result, times, share, rssBefore } = await runAttack(s, 'late-choices', { mb: 8, stream: true })
    expect(result.complete).toBe(true)
    expect(result.firstByteMs).toBeLessThan(2000)
    expect(result.bytes).toBeGreaterThan(8 * MiB)
    const tail = result.tail.toString()
    expect(tail.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(tail).not.toContain('"usage":{')
    expect(share).toEqual({ requests: 1, inputTokens: 1000, outputTokens: 500, estimated: {} })
    await expectUnharmed(s, times, rssBefore)
  })

  it('a stream that breaks mid-way cuts the client connection (no clean end), estimated', async () => {
    const { result, times, share, rssBefore } = await runAttack(s, 'reset-sse', { stream: true })
    // What came is relayed; then the connection breaks: the client knows the stream is not complete.
    expect(result.status).toBe(200)
    expect(result.head.toString()).toContain('"content":"Hello"')
    expect(result.head.toString()).not.toContain('[DONE]')
    expect(result.complete).toBe(false)
    expect(share.requests).toBe(1)
    expect(share.estimated).toEqual({ upstream_error: 1 })
    expect(share.inputTokens).toBeGreaterThan(0)
    await expectUnharmed(s, times, rssBefore)
  })

  it('a gzip-compressed stream, which it cannot read, is relayed as sent and estimated', async () => {
    const { result, times, share, rssBefore } = await runAttack(s, 'gzip-sse', { stream: true })
    expect(result.complete).toBe(true)
    expect(result.headers['content-encoding']).toBe('gzip')
    expect(gunzipSync(result.head).toString()).toContain('data: [DONE]')
    expect(share.requests).toBe(1)
    expect(share.estimated).toEqual({ no_usage: 1 })
    await expectUnharmed(s, times, rssBefore)
  })
})

describe('a hostile upstream JSON answer', () => {
  it('a 300 MiB answer goes through unbuffered once past MAX_BUFFERED_BYTES, estimated', async () => {
    let peak = 0
    const sampler = setInterval(() => { peak = Math.max(peak, s.g.rss()) }, 20)
    const { result, times, share, rssBefore } = await runAttack(s, 'big-json', { mb: 300 })
    clearInterval(sampler)
    expect(result.status).toBe(200)
    expect(result.complete).toBe(true)
    expect(result.bytes).toBeGreaterThan(300 * MiB)
    expect(result.tail.toString()).toContain('"usage":{"prompt_tokens":1000')
    // Never the whole body: about the 64 MiB bound and the sockets' buffers.
    expect(peak - rssBefore).toBeLessThan(160 * MiB)
    expect(share.requests).toBe(1)
    expect(share.estimated).toEqual({ too_large: 1 })
    expect(share.outputTokens).toBeGreaterThan(300 * MiB / 5)
    // What the answer passed through may wait for the collector: the bound and the chunks it came in.
    await expectUnharmed(s, times, rssBefore, 2 * 64 * MiB)
    // Nothing accumulates: a second one leaves the gateway within 50 MiB of where the first did.
    const again = await runAttack(s, 'big-json', { mb: 300 })
    expect(again.result.complete).toBe(true)
    expect(again.share.estimated).toEqual({ too_large: 1 })
    await expectUnharmed(s, again.times, again.rssBefore)
  })

  it('a body shorter than its content-length is a 502, not a truncated 200, and estimated', async () => {
    const { result, times, share, rssBefore } = await runAttack(s, 'short-length')
    expect(result.status).toBe(502)
    expect(result.complete).toBe(true)
    expect(JSON.parse(result.head.toString())).toEqual({ error: { message: expect.stringContaining('broke off its answer'), type: 'api_error', param: null, code: 'upstream_error' } })
    expect(share.requests).toBe(1)
    expect(share.estimated).toEqual({ upstream_error: 1 })
    expect(share.inputTokens).toBeGreaterThan(0)
    expect(share.outputTokens).toBeGreaterThan(0)
    await expectUnharmed(s, times, rssBefore)
  })

  it('a JSON body reset mid-way is a 502 and estimated', async () => {
    const { result, times, share, rssBefore } = await runAttack(s, 'reset-json')
    expect(result.status).toBe(502)
    expect(JSON.parse(result.head.toString()).error.code).toBe('upstream_error')
    expect(share.requests).toBe(1)
    expect(share.estimated).toEqual({ upstream_error: 1 })
    await expectUnharmed(s, times, rssBefore)
  })

  for (const [encoding, decode] of [['gzip', gunzipSync], ['br', brotliDecompressSync]] as const) {
    it(`a ${encoding} answer (despite accept-encoding: identity) is relayed as sent and metered exactly`, async () => {
      const { result, times, share, rssBefore } = await runAttack(s, encoding)
      expect(result.status).toBe(200)
      expect(result.headers['content-encoding']).toBe(encoding)
      expect(JSON.parse(decode(result.head).toString()).usage.prompt_tokens).toBe(1000)
      expect(result.headers['x-gateway-cost-usd']).toBeDefined()
      expect(share).toEqual({ requests: 1, inputTokens: 1000, outputTokens: 500, estimated: {} })
      await expectUnharmed(s, times, rssBefore)
    })
  }

  it('102 and 103 before a stream are skipped: the stream is relayed as such, its usage chunk stripped, exact', async () => {
    const { result, times, share, rssBefore } = await runAttack(s, 'early-hints', { stream: true })
    expect(result.status).toBe(200)
    expect(result.headers['content-type']).toBe('text/event-stream')
    expect(result.complete).toBe(true)
    const text = result.head.toString()
    expect(text).toContain('"content":"Hello"')
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(text).not.toContain('"usage":{')
    expect(share).toEqual({ requests: 1, inputTokens: 1000, outputTokens: 500, estimated: {} })
    await expectUnharmed(s, times, rssBefore)
  })

  it('102 and 103 before the answer are skipped: the client gets the 200, metered exactly', async () => {
    const { result, times, share, rssBefore } = await runAttack(s, 'early-hints')
    expect(result.status).toBe(200)
    expect(JSON.parse(result.head.toString()).object).toBe('chat.completion')
    expect(share).toEqual({ requests: 1, inputTokens: 1000, outputTokens: 500, estimated: {} })
    await expectUnharmed(s, times, rssBefore)
  })

  it('an unsolicited 100 Continue is a clear 502 (undici drops the connection), not retried, estimated', async () => {
    const { result, times, share, rssBefore } = await runAttack(s, 'continue')
    expect(result.status).toBe(502)
    expect(JSON.parse(result.head.toString())).toEqual({ error: { message: expect.stringContaining('unexpected 100 Continue'), type: 'api_error', param: null, code: 'upstream_error' } })
    expect(share.requests).toBe(1)
    expect(share.estimated).toEqual({ upstream_error: 1 })
    expect(share.outputTokens).toBe(0)
    await expectUnharmed(s, times, rssBefore)
  })
})
