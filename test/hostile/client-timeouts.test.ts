import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { ATTACK_KEY, startGatewayProcess, type GatewayProcess } from '../helpers/attack.js'
import { chatBody, head, openaiError, openRaw, sleep, trickle, underAttack, type RawConnection } from './raw-client.js'

const REQUEST_TIMEOUT_MS = 1_000
const KEEP_ALIVE_TIMEOUT_MS = 1_000
// Node checks for late requests every 100 ms here; the rest is a busy machine.
const MARGIN_MS = 2_500

describe('slow and idle clients', () => {
  let mock: MockUpstream
  let g: GatewayProcess

  beforeAll(async () => {
    mock = await startMockUpstream()
    g = await startGatewayProcess({
      upstreamBaseUrl: mock.baseUrl,
      env: { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS) }
    })
  })
  afterAll(async () => {
    await g?.kill()
    await mock?.close()
  })

  it('a body that trickles in ends with 408 in OpenAI\'s shape and a closed connection', async () => {
    const body = chatBody(10_000)
    await underAttack(g, async () => {
      const conns = await Promise.all(Array.from({ length: 20 }, async () => await openRaw(g.url)))
      const trickles = conns.map(async (c) => {
        c.socket.write(head('POST', '/v1/chat/completions', { authorization: `Bearer ${ATTACK_KEY}`, 'content-type': 'application/json', 'content-length': body.length }))
        await trickle(c, body, 10, 100)
      })
      for (const c of conns) {
        const a = await c.answer(REQUEST_TIMEOUT_MS + MARGIN_MS + 5_000)
        expect(a.status).toBe(408)
        expect(a.at).toBeLessThan(REQUEST_TIMEOUT_MS + MARGIN_MS)
        expect(a.headers.connection).toBe('close')
        expect(openaiError(a).code).toBe('request_timeout')
        expect(await c.closed).toBeLessThan(REQUEST_TIMEOUT_MS + MARGIN_MS)
      }
      await Promise.all(trickles)
    })
  })

  it('without a key the trickle gets 401 at once and the connection still closes on time', async () => {
    const c = await openRaw(g.url)
    const body = chatBody(10_000)
    c.socket.write(head('POST', '/v1/chat/completions', { 'content-type': 'application/json', 'content-length': body.length }))
    const sending = trickle(c, body, 10, 100)
    const a = await c.answer()
    expect(a.status).toBe(401)
    expect(a.at).toBeLessThan(REQUEST_TIMEOUT_MS)
    expect(openaiError(a).code).toBe('invalid_api_key')
    expect(await c.closed).toBeLessThan(REQUEST_TIMEOUT_MS + MARGIN_MS)
    expect(await sending).toBeLessThan(body.length)
  })

  it('headers that trickle in end with 408', async () => {
    const c = await openRaw(g.url)
    c.socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n')
    const sending = (async () => {
      for (let i = 0; i < 50 && !c.isClosed(); i++) {
        c.socket.write(`x-slow-${i}: 1\r\n`)
        await sleep(100)
      }
    })()
    const a = await c.answer(REQUEST_TIMEOUT_MS + MARGIN_MS + 5_000)
    expect(a.status).toBe(408)
    expect(openaiError(a).code).toBe('request_timeout')
    expect(await c.closed).toBeLessThan(REQUEST_TIMEOUT_MS + MARGIN_MS)
    await sending
  })

  it('closes 200 idle keep-alive connections after KEEP_ALIVE_TIMEOUT_MS, and 200 that never sent a byte', async () => {
    await underAttack(g, async () => {
      const used: RawConnection[] = []
      for (let i = 0; i < 200; i++) {
        const c = await openRaw(g.url)
        c.socket.write(head('GET', '/healthz', {}))
        expect((await c.answer()).status).toBe(200)
        used.push(c)
      }
      const silent = await Promise.all(Array.from({ length: 200 }, async () => await openRaw(g.url)))
      const started = performance.now()
      const deadline = KEEP_ALIVE_TIMEOUT_MS + MARGIN_MS + 2_000
      const closedIn = async (cs: RawConnection[]): Promise<number> => {
        const results = await Promise.all(cs.map(async (c) => await Promise.race([c.closed.then(() => true), sleep(deadline).then(() => false)])))
        return results.filter(Boolean).length
      }
      const [usedClosed, silentClosed] = await Promise.all([closedIn(used), closedIn(silent)])
      expect(usedClosed).toBe(200)
      expect(silentClosed).toBe(200)
      expect(performance.now() - started).toBeLessThan(deadline + 500)
      // A connection that never sent a byte gets no answer, just the close.
      expect(silent.every((c) => c.received() === '')).toBe(true)
    })
  })

  it('a stream that lasts longer than REQUEST_TIMEOUT_MS is not cut', async () => {
    mock.options.chunks = 12
    mock.options.chunkDelayMs = 250
    try {
      const t = performance.now()
      const res = await fetch(`${g.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ATTACK_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-5.2-chat-latest', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      })
      expect(res.status).toBe(200)
      const text = await res.text()
      expect(performance.now() - t).toBeGreaterThan(2 * REQUEST_TIMEOUT_MS)
      expect(text).toContain('data: [DONE]')
    } finally {
      mock.options.chunks = 5
      mock.options.chunkDelayMs = 0
    }
  })
})
