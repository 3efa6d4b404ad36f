import type { ServerResponse } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, TEST_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'

const auth = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }
// The client asks for usage itself, so the gateway changes nothing in the stream.
const body = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } })

/** Scripts the mock to write `parts` as separate writes, with a pause between them. */
function scriptParts (gw: TestGateway, parts: Buffer[], pauseMs = 5): void {
  gw.mock.once(async (_req, _body, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (const p of parts) {
      res.write(p)
      await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
    res.end()
  })
}

async function readAll (res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer())
}

describe('the stream relay, byte for byte', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway() })
  afterAll(async () => { await gw.close() })

  const emoji = Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"👋 héllo"}}]}\n\n')
  const cases: Array<[string, Buffer[]]> = [
    ['an event split mid-line', [Buffer.from('data: {"choices":[{"index":0,"del'), Buffer.from('ta":{"content":"a"}}]}\n\ndata: [DONE]\n\n')]],
    ['an emoji split between writes', [emoji.subarray(0, 52), emoji.subarray(52, 54), emoji.subarray(54), Buffer.from('data: [DONE]\n\n')]],
    ['keep-alive comments and CRLF', [Buffer.from(': ping\r\n\r\n'), Buffer.from('data: {"choices":[{"index":0,"delta":{}}]}\r'), Buffer.from('\n\r\n: ping\r\n\r\ndata: [DONE]\r\n\r\n')]],
    ['a 200 KB event', [Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"' + 'x'.repeat(200_000) + '"}}]}\n\n'), Buffer.from('data: [DONE]\n\n')]]
  ]
  for (const [name, parts] of cases) {
    it(`delivers exactly the upstream's bytes: ${name}`, async () => {
      scriptParts(gw, parts)
      const res = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: auth, body })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/event-stream')
      expect((await readAll(res)).equals(Buffer.concat(parts))).toBe(true)
    })
  }

  it('passes the first event on before the upstream writes the second', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    gw.mock.once(async (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"choices":[{"index":0,"delta":{"content":"first"}}]}\n\n')
      await gate
      res.end('data: [DONE]\n\n')
    })
    const res = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: auth, body })
    const reader = res.body!.getReader()
    const first = await reader.read()
    expect(Buffer.from(first.value!).toString()).toContain('"first"')
    release()
    let rest = ''
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString()
    expect(rest).toBe('data: [DONE]\n\n')
  })

  it('aborts the upstream request when the client leaves', async () => {
    gw.mock.once(async (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (let i = 0; i < 600 && !res.destroyed; i++) {
        res.write(`data: {"choices":[{"index":0,"delta":{"content":"${i}"}}]}\n\n`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      res.end()
    })
    const before = gw.mock.requests.length
    const controller = new AbortController()
    const res = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: auth, body, signal: controller.signal })
    const reader = res.body!.getReader()
    await reader.read()
    controller.abort()
    const upstreamCall = gw.mock.requests[before]!
    await waitFor(() => upstreamCall.aborted, 5000)
    expect(upstreamCall.aborted).toBe(true)
    await waitFor(() => gw.logs.some((l) => l.includes('"outcome":"client_abort"')), 5000)
  })

  it('cuts the client connection when the upstream drops mid-stream (no clean end), and logs it', async () => {
    gw.mock.once(async (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"choices":[{"index":0,"delta":{"content":"partial"}}]}\n\n')
      await new Promise((resolve) => setTimeout(resolve, 20))
      res.socket!.destroy()
    })
    const res = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: auth, body })
    // What arrived is relayed as it came; then the connection breaks without the chunked
    // terminator, so the client knows the stream is truncated instead of taking it as complete.
    const reader = res.body!.getReader()
    let text = ''
    let failure: unknown
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString()
    } catch (e) {
      failure = e
    }
    expect(text).toBe('data: {"choices":[{"index":0,"delta":{"content":"partial"}}]}\n\n')
    expect(failure).toBeInstanceOf(TypeError)
    await waitFor(() => gw.logs.some((l) => l.includes('"outcome":"upstream_error"')), 5000)
  })
})
