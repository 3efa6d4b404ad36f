import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { startLenientUpstream, type LenientUpstream } from '../helpers/lenient-upstream.js'
import { rawRequest } from './raw-http.js'

const auth = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }
const chat = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] })

describe('only canonical paths reach the upstream (raw sockets)', () => {
  let up: LenientUpstream
  let gw: TestGateway
  beforeAll(async () => {
    up = await startLenientUpstream()
    gw = await startGateway({ UPSTREAM_BASE_URL: up.baseUrl })
  })
  afterAll(async () => {
    await gw.close()
    await up.close()
  })

  it.each([
    ['GET', '/v1/../x'],
    ['GET', '/v1/%2e%2e/x'],
    ['GET', '/v1/%2E%2E/admin'],
    ['GET', '/v1/..%2fx'],
    ['GET', '/v1/.%2E/admin'],
    ['GET', '/v1/%2e./dashboard/api'],
    ['GET', '/v1/models/..'],
    ['GET', '/v1\\..\\admin'],
    ['GET', '/v1/models%5c..%5cadmin'],
    ['POST', '//v1/chat/completions'],
    ['POST', '/v1//chat/completions'],
    ['POST', '/v1/./chat/completions'],
    ['POST', '/v1/chat/completions;x'],
    ['POST', '/v1/chat%2fcompletions'],
    ['POST', '/v1/chat/x/../completions'],
    ['POST', '/v1/chat/completions/.'],
    ['POST', '/v1/chat/completions//'],
    ['POST', '/v1/responses%00'],
    ['POST', '/v1/responses%0d%0ax-injected:1'],
    ['POST', '/v1/responses%7f'],
    ['POST', 'http://127.0.0.1:1/v1/chat/completions'],
    ['GET', '/admin/../v1/models'],
    ['GET', '/healthz/..']
  ])('%s %s → 400 invalid_path, nothing relayed', async (method, target) => {
    const before = up.requests.length
    const res = await rawRequest(gw.url, method, target, auth, method === 'POST' ? chat : '')
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'invalid_path', type: 'invalid_request_error' } })
    expect(res.headers['x-request-id']).toMatch(/\S/)
    expect(up.requests.length).toBe(before)
  })

  it('a raw control character or backslash in the target never reaches the upstream either', async () => {
    const before = up.requests.length
    for (const target of ['/v1/x\u0001y', '/v1/x\u007f']) {
      const res = await rawRequest(gw.url, 'GET', target, auth)
      // Node's HTTP parser refuses some of these itself; either way it is a 400.
      expect(res.status).toBe(400)
    }
    expect(up.requests.length).toBe(before)
  })

  it('is refused before authentication: no key needed to learn a path is not canonical', async () => {
    const res = await rawRequest(gw.url, 'GET', '/v1/%2e%2e/x')
    expect(res.status).toBe(400)
  })

  it('one trailing slash is removed before routing, with every rule of the route', async () => {
    const before = up.requests.length
    const res = await rawRequest(gw.url, 'POST', '/v1/chat/completions/?trace=1', auth, chat)
    expect(res.status).toBe(200)
    expect(res.headers['x-gateway-cost-usd']).toBeDefined()
    expect(up.requests.length).toBe(before + 1)
    expect(up.requests.at(-1)!.rawUrl).toBe('/v1/chat/completions?trace=1')
  })

  it('other escapes and the query go upstream exactly as they came', async () => {
    const res = await rawRequest(gw.url, 'GET', '/v1/models/ft%3Agpt-4o%3Aacme%3Axyz?a=%2F..&b=;c', auth)
    expect(res.status).toBe(200)
    expect(up.requests.at(-1)!.rawUrl).toBe('/v1/models/ft%3Agpt-4o%3Aacme%3Axyz?a=%2F..&b=;c')
  })
})
