import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { ATTACK_KEY, startGatewayProcess, type GatewayProcess } from '../helpers/attack.js'
import { head, openaiError, openRaw, underAttack, type RawAnswer } from './raw-client.js'

/** Sends `bytes` on a fresh connection; the answer, once the gateway has closed the connection. */
async function send (url: string, bytes: string): Promise<RawAnswer> {
  const c = await openRaw(url)
  c.socket.write(bytes, 'latin1')
  const a = await c.answer()
  await c.closed
  return a
}

describe('bytes Node\'s HTTP parser refuses', () => {
  let mock: MockUpstream
  let g: GatewayProcess

  beforeAll(async () => {
    mock = await startMockUpstream()
    g = await startGatewayProcess({ upstreamBaseUrl: mock.baseUrl })
  })
  afterAll(async () => {
    await g?.kill()
    await mock?.close()
  })

  it('headers over the size limit are 431 in OpenAI\'s shape, connection closed', async () => {
    const big = head('POST', '/v1/chat/completions', { authorization: `Bearer ${ATTACK_KEY}`, 'x-big': 'a'.repeat(20_000), 'content-length': 2 }) + '{}'
    await underAttack(g, async () => {
      for (let i = 0; i < 50; i++) {
        const a = await send(g.url, big)
        expect(a.status).toBe(431)
        expect(a.headers.connection).toBe('close')
        expect(openaiError(a).code).toBe('headers_too_large')
      }
    })
  })

  it.each([
    ['a garbage request line', 'HELLO THERE\r\n\r\n'],
    ['a bad header line', 'GET /healthz HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n'],
    ['two content-lengths', 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}'],
    ['a broken chunked body', 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'],
    ['binary noise', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03']
  ])('%s is 400 in OpenAI\'s shape, connection closed', async (_name, bytes) => {
    const a = await send(g.url, bytes)
    expect(a.status).toBe(400)
    expect(a.headers.connection).toBe('close')
    const e = openaiError(a)
    expect(e.type).toBe('invalid_request_error')
  })

  it('a flood of garbage connections leaves bystanders served', async () => {
    await underAttack(g, async () => {
      for (let round = 0; round < 10; round++) {
        const answers = await Promise.all(Array.from({ length: 20 }, async () => await send(g.url, 'NOT HTTP AT ALL\r\n\r\n')))
        expect(answers.every((a) => a.status === 400)).toBe(true)
      }
    })
  })

  it('garbage after a complete answer on a keep-alive connection is 400 too', async () => {
    const c = await openRaw(g.url)
    c.socket.write(head('GET', '/healthz', {}))
    const first = await c.answer()
    expect(first.status).toBe(200)
    c.socket.write('\x00\x01\x02 junk\r\n\r\n', 'latin1')
    await c.closed
    const all = c.received()
    expect(all.slice(all.indexOf('\r\n\r\n') + 4 + first.body.length)).toMatch(/^HTTP\/1\.1 400 /)
  })
})
