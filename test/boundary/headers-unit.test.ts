import { describe, expect, it } from 'vitest'
import { clientResponseHeaders, isUpstreamRedirect, scrubBody, scrubHeaders, upstreamRequestHeaders } from '../../src/proxy/headers.js'

describe('request headers that go upstream', () => {
  const sent = upstreamRequestHeaders({
    authorization: 'Bearer sk-client',
    'x-api-key': 'sk-client',
    'api-key': 'sk-client',
    cookie: 'session=1',
    'proxy-authorization': 'Basic x',
    host: 'gateway.local',
    connection: 'keep-alive, x-hop',
    'x-hop': '1',
    'keep-alive': 'timeout=5',
    te: 'trailers',
    upgrade: 'h2c',
    'transfer-encoding': 'chunked',
    'content-length': '12',
    expect: '100-continue',
    'accept-encoding': 'gzip, br',
    forwarded: 'for=1.2.3.4',
    'x-forwarded-for': '1.2.3.4',
    'x-forwarded-host': 'evil',
    'x-gateway-cache-ttl': '60',
    'x-request-id': 'client-id',
    'openai-organization': 'org-1',
    'openai-project': 'proj-1',
    'openai-beta': 'assistants=v2',
    'idempotency-key': 'k1',
    'x-stainless-lang': 'js',
    'x-custom': ['a', 'b'],
    'content-type': 'application/json',
    accept: 'application/json',
    'user-agent': 'OpenAI/JS 6'
  }, 'Bearer sk-upstream', 'req_1')

  it('keeps every other header as the client sent it', () => {
    expect(sent).toEqual({
      'openai-organization': 'org-1',
      'openai-project': 'proj-1',
      'openai-beta': 'assistants=v2',
      'idempotency-key': 'k1',
      'x-stainless-lang': 'js',
      'x-custom': ['a', 'b'],
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': 'OpenAI/JS 6',
      // Set by the gateway.
      'accept-encoding': 'identity',
      'x-request-id': 'req_1',
      authorization: 'Bearer sk-upstream'
    })
  })

  it('no upstream key configured: no authorization at all, the client\'s included', () => {
    expect(upstreamRequestHeaders({ authorization: 'Bearer sk-client' }, undefined, 'r').authorization).toBeUndefined()
  })
})

describe('response headers that reach the client', () => {
  it('drops transport, cookies, the upstream request id, its rate limits and anything posing as the gateway', () => {
    expect(clientResponseHeaders({
      'content-type': 'application/json',
      'content-length': '10',
      connection: 'x-hop',
      'x-hop': '1',
      'set-cookie': ['a=1'],
      'x-request-id': 'req_upstream',
      'x-ratelimit-limit-requests': '10000',
      'x-ratelimit-remaining-tokens': '5',
      'x-gateway-cost-usd': '0',
      'openai-processing-ms': '12',
      'retry-after': '3',
      'x-should-retry': 'false',
      undefinedOne: undefined
    })).toEqual({ 'content-type': 'application/json', 'openai-processing-ms': '12', 'retry-after': '3', 'x-should-retry': 'false' })
  })

  it('a redirect is a 3xx with a location', () => {
    expect(isUpstreamRedirect(307, { location: 'https://evil.example/v1' })).toBe(true)
    expect(isUpstreamRedirect(301, { location: '/x' })).toBe(true)
    expect(isUpstreamRedirect(304, {})).toBe(false)
    expect(isUpstreamRedirect(200, { location: '/x' })).toBe(false)
  })
})

describe('scrubbing the upstream key', () => {
  const key = 'sk-upstream-secret'
  it('replaces every occurrence in a body, and copies nothing when there is none', () => {
    const body = Buffer.from(`{"error":"bad key ${key}","echo":"Bearer ${key}${key}"}`)
    expect(scrubBody(body, [Buffer.from(key)]).toString()).toBe('{"error":"bad key sk-***","echo":"Bearer sk-***sk-***"}')
    const clean = Buffer.from('{"ok":true}')
    expect(scrubBody(clean, [Buffer.from(key)])).toBe(clean)
  })

  it('replaces it in header values, single and repeated', () => {
    const h = { 'x-echo': `Bearer ${key}`, link: ['a', `b${key}`], 'content-type': 'text/plain' }
    expect(scrubHeaders(h, [key])).toEqual({ 'x-echo': 'Bearer sk-***', link: ['a', 'bsk-***'], 'content-type': 'text/plain' })
    const clean = { a: 'b' }
    expect(scrubHeaders(clean, [key])).toBe(clean)
  })
})
