import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatStreamEvents } from '../../src/mock/upstream.js'
import { startGateway, TEST_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'

const headers = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', 'x-gateway-cache-ttl': '60' }
const body = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'coalesce me' }], stream: true, stream_options: { include_usage: true } })

describe('a coalesced stream whose first client leaves', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway({}, { chunks: 10, chunkDelayMs: 60 }) })
  afterAll(async () => { await gw.close() })

  it('keeps the upstream answer going for the followers, who get every byte', async () => {
    const expected = chatStreamEvents('gpt-5.2-chat-latest', 10, gw.mock.options.usage).join('')
    const leaderAbort = new AbortController()
    const leader = await fetch(gw.baseURL + '/chat/completions', { method: 'POST', headers, body, signal: leaderAbort.signal })
    const reader = leader.body!.getReader()
    await reader.read()
    const follower = fetch(gw.baseURL + '/chat/completions', { method: 'POST', headers, body }).then(async (r) => ({ cache: r.headers.get('x-gateway-cache'), text: await r.text() }))
    // Let the follower join the flight, then the leader's client leaves.
    await new Promise((resolve) => setTimeout(resolve, 150))
    leaderAbort.abort()
    const got = await follower
    expect(got.cache).toBe('HIT')
    expect(got.text).toBe(expected)
    expect(gw.mock.requests.filter((r) => r.url === '/v1/chat/completions')).toHaveLength(1)
    expect(gw.mock.requests[0]!.aborted).toBe(false)
    await waitFor(() => gw.logs.some((l) => l.includes('"outcome":"client_abort"')))
  })
})
