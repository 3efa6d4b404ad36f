import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, TEST_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'

const TOTAL = 64 * 1024 * 1024
const EVENT = Buffer.from('data: ' + JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(65_000) } }] }) + '\n\n')

describe('backpressure', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway() })
  afterAll(async () => { await gw.close() })

  it('stops reading the upstream while the client does not read, and loses nothing', async () => {
    let written = 0
    gw.mock.once(async (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      while (written < TOTAL && !res.destroyed) {
        written += EVENT.length
        if (!res.write(EVENT)) await new Promise((resolve) => res.once('drain', resolve))
      }
      res.end('data: [DONE]\n\n')
    })
    const body = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [], stream: true, stream_options: { include_usage: true } })
    const url = new URL(gw.baseURL + '/chat/completions')
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' } }, resolve)
      req.on('error', reject)
      req.end(body)
    })
    res.pause()
    // The client reads nothing: the mock must get stuck well before the end.
    await waitFor(() => written > 0, 10_000)
    let last = -1
    await waitFor(() => { const stable = written === last; last = written; return stable && written > 0 }, 20_000, 500)
    expect(written).toBeLessThan(TOTAL / 2)
    let received = 0
    res.on('data', (c: Buffer) => { received += c.length })
    const ended = new Promise((resolve) => res.on('end', resolve))
    res.resume()
    await ended
    expect(received).toBe(Math.ceil(TOTAL / EVENT.length) * EVENT.length + 'data: [DONE]\n\n'.length)
  })
})
