import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { ATTACK_KEY, startGatewayProcess, type GatewayProcess } from '../helpers/attack.js'
import { chatBody, head, openaiError, openRaw, sleep, trickle, underAttack, type RawAnswer, type RawConnection } from './raw-client.js'

const MiB = 1024 * 1024
const PIECE = 64 * 1024

/** `body` in HTTP/1.1 chunked encoding, `PIECE` bytes a chunk. */
function chunked (body: Buffer): Buffer {
  const parts: Buffer[] = []
  for (let i = 0; i < body.length; i += PIECE) {
    const piece = body.subarray(i, i + PIECE)
    parts.push(Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(parts)
}

/** A keyed chat request whose body trickles in; stops sending once the gateway has answered. */
async function slowChat (url: string, body: Buffer, framing: 'length' | 'chunked'): Promise<{ answer: RawAnswer, sent: number, total: number }> {
  const c = await openRaw(url)
  const wire = framing === 'chunked' ? chunked(body) : body
  const h = { authorization: `Bearer ${ATTACK_KEY}`, 'content-type': 'application/json', connection: 'close' }
  c.socket.write(head('POST', '/v1/chat/completions', framing === 'chunked' ? { ...h, 'transfer-encoding': 'chunked' } : { ...h, 'content-length': body.length }))
  let answered = false
  const answer = c.answer(60_000).finally(() => { answered = true })
  const sent = await trickle(c, wire, PIECE, 40, () => answered)
  return { answer: await answer, sent, total: wire.length }
}

function expectBusy (r: { answer: RawAnswer, sent: number, total: number }): void {
  expect(r.answer.status).toBe(503)
  expect(Number(r.answer.headers['retry-after'])).toBeGreaterThan(0)
  expect(openaiError(r.answer)).toMatchObject({ type: 'api_error', code: 'overloaded' })
  // Refused before the whole body arrived: the gateway did not wait for it.
  expect(r.sent).toBeLessThan(r.total)
}

// The large requests have their own connections: the bystander's pool stays its own.
const large = new Agent()

async function drained (c: RawConnection): Promise<void> {
  await new Promise<void>((resolve) => {
    const go = (): void => { c.socket.off('drain', go); c.socket.off('close', go); resolve() }
    c.socket.on('drain', go)
    c.socket.on('close', go)
  })
}

async function chat (url: string, body: Buffer): Promise<number> {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${ATTACK_KEY}`, 'content-type': 'application/json' }, body, dispatcher: large })
  await res.body.arrayBuffer()
  return res.statusCode
}

describe('request bodies: the parsing budget, and no reading before authentication', () => {
  let mock: MockUpstream
  let g: GatewayProcess

  beforeAll(async () => {
    mock = await startMockUpstream()
    g = await startGatewayProcess({ upstreamBaseUrl: mock.baseUrl, env: { MAX_PARSING_BYTES: String(2 * MiB) } })
  })
  afterAll(async () => {
    await large.close()
    await g?.kill()
    await mock?.close()
  })

  it('bodies declared beyond the budget are 503 with retry-after before they are read; the budget comes back', async () => {
    const body = chatBody(1.5 * MiB)
    const results = await underAttack(g, async () => await Promise.all(Array.from({ length: 4 }, async () => await slowChat(g.url, body, 'length'))))
    const served = results.filter((r) => r.answer.status === 200)
    const busy = results.filter((r) => r.answer.status !== 200)
    expect(served.length).toBeGreaterThanOrEqual(1)
    expect(busy.length).toBeGreaterThanOrEqual(1)
    for (const r of busy) expectBusy(r)
    // Nothing leaked: one at a time, each body alone gets the whole budget again.
    for (let i = 0; i < 5; i++) expect(await chat(g.url, body)).toBe(200)
  })

  it('chunked bodies are counted as they arrive: the one that passes the budget is 503', async () => {
    const body = chatBody(1.5 * MiB)
    await underAttack(g, async () => {
      const results = await Promise.all([slowChat(g.url, body, 'chunked'), slowChat(g.url, body, 'chunked')])
      expect(results.map((r) => r.answer.status).sort()).toEqual([200, 503])
      expectBusy(results.find((r) => r.answer.status === 503)!)
      // Alone, a chunked body may use the whole budget and more.
      expect((await slowChat(g.url, chatBody(3 * MiB), 'chunked')).answer.status).toBe(200)
    })
    for (let i = 0; i < 3; i++) expect(await chat(g.url, body)).toBe(200)
  })

  it('a body abandoned halfway gives its budget back', async () => {
    const body = chatBody(1.5 * MiB)
    for (let i = 0; i < 5; i++) {
      const c = await openRaw(g.url)
      c.socket.write(head('POST', '/v1/chat/completions', { authorization: `Bearer ${ATTACK_KEY}`, 'content-type': 'application/json', 'content-length': body.length }))
      c.socket.write(body.subarray(0, body.length >> 1))
      await sleep(100)
      // While it holds the budget, a second large body is refused.
      expect(await chat(g.url, body)).toBe(503)
      c.socket.destroy()
      await c.closed
      // The gateway sees the close a moment after the client does.
      let status = 0
      for (let t = 0; t < 20 && status !== 200; t++) {
        await sleep(100)
        status = await chat(g.url, body)
      }
      expect(status).toBe(200)
    }
  })

  it('an unauthenticated request is answered 401 while its body is still coming, and the body costs no memory', async () => {
    const total = 32 * MiB
    const piece = Buffer.alloc(PIECE, 0x61)
    let peak = 0
    await underAttack(g, async (w) => {
      // Four bodies of the largest size allowed, 128 MiB in all, at once.
      await Promise.all(Array.from({ length: 4 }, async () => {
        const c = await openRaw(g.url)
        c.socket.write(head('POST', '/v1/chat/completions', { 'content-type': 'application/json', 'content-length': total }))
        let sent = 0
        // A slow start: the answer comes before the body.
        while (sent < 4 * PIECE) { c.socket.write(piece); sent += PIECE; await sleep(50) }
        const a = await c.answer()
        expect(a.status).toBe(401)
        expect(openaiError(a).code).toBe('invalid_api_key')
        // Then the rest as fast as the gateway takes it, watching its memory, until it hangs up.
        while (sent < total && !c.isClosed()) {
          if (!c.socket.write(piece)) await drained(c)
          sent += PIECE
          if (sent % (2 * MiB) === 0) peak = Math.max(peak, g.rss() - w.rssStart)
        }
        // The gateway closed the connection instead of reading the rest.
        expect(sent).toBeLessThan(total)
        c.socket.destroy()
        await c.closed
      }))
    })
    // What it grew by is garbage of the reads, collected, not the bodies.
    expect(peak).toBeLessThan(64 * MiB)
  })
})
