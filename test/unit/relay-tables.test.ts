import { describe, expect, it } from 'vitest'
import { upstreamError } from '../../src/proxy/upstream-errors.js'
import { routeTemplate } from '../../src/proxy/route-template.js'
import { clientResponseHeaders, upstreamRequestHeaders, clientRequestId } from '../../src/proxy/headers.js'
import { bearerToken, maskKey } from '../../src/auth/authenticate.js'
import { isModelAllowed } from '../../src/auth/model-access.js'

describe('upstream error table', () => {
  it.each([
    ['UND_ERR_HEADERS_TIMEOUT', 504, 'upstream_timeout'],
    ['UND_ERR_CONNECT_TIMEOUT', 502, 'upstream_unavailable'],
    ['ECONNREFUSED', 502, 'upstream_unavailable'],
    ['ECONNRESET', 502, 'upstream_unavailable'],
    ['ENOTFOUND', 502, 'upstream_unavailable'],
    ['UND_ERR_SOCKET', 502, 'upstream_unavailable'],
    ['SOMETHING_NEW', 502, 'upstream_unavailable']
  ])('%s → %i %s', (code, status, openaiCode) => {
    const e = upstreamError(Object.assign(new Error('x'), { code }), 1000)
    expect(e.status).toBe(status)
    expect(e.openaiCode).toBe(openaiCode)
  })
  it('looks through cause chains', () => {
    const e = upstreamError(new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }), 1000)
    expect(e.message).toContain('connection refused')
  })
})

describe('route templates keep labels bounded', () => {
  it.each([
    ['/v1/chat/completions', '/v1/chat/completions'],
    ['/v1/responses/resp_123', '/v1/responses/{id}'],
    ['/v1/responses/resp_123/cancel', '/v1/responses/{id}/cancel'],
    ['/v1/responses/resp_1/input_items?limit=2', '/v1/responses/{id}/input_items'],
    ['/v1/responses/compact', '/v1/responses/compact'],
    ['/v1/models', '/v1/models'],
    ['/v1/whatever/a/b', '/v1/other'],
    ['/v1/files/file-abc/content', '/v1/files/{id}/content']
  ])('%s → %s', (path, template) => { expect(routeTemplate(path)).toBe(template) })
})

describe('headers', () => {
  it('sends upstream the client headers but its credentials and forwarding ones, with the upstream key', () => {
    const h = upstreamRequestHeaders({ authorization: 'Bearer sk-client', cookie: 'a', 'content-type': 'application/json', 'idempotency-key': 'k', 'x-forwarded-for': '1.2.3.4' }, 'Bearer up', 'req_1')
    expect(h).toEqual({ 'accept-encoding': 'identity', 'x-request-id': 'req_1', authorization: 'Bearer up', 'content-type': 'application/json', 'idempotency-key': 'k' })
  })
  it('drops hop-by-hop and Connection-listed headers from the answer', () => {
    expect(clientResponseHeaders({ connection: 'keep-alive, x-hop', 'x-hop': '1', 'transfer-encoding': 'chunked', 'content-length': '5', 'content-type': 'a/b', 'set-cookie': ['x'], 'x-request-id': 'r' }))
      .toEqual({ 'content-type': 'a/b' })
  })
  it('accepts sane client request ids only', () => {
    expect(clientRequestId('abc-123')).toBe('abc-123')
    expect(clientRequestId('bad id\n')).toBeUndefined()
    expect(clientRequestId('x'.repeat(300))).toBeUndefined()
  })
})

describe('auth helpers', () => {
  it('reads bearer tokens case-insensitively', () => {
    expect(bearerToken('Bearer sk-abc123')).toBe('sk-abc123')
    expect(bearerToken('bearer sk-abc123')).toBe('sk-abc123')
    expect(bearerToken('Basic abc')).toBeUndefined()
    expect(bearerToken(undefined)).toBeUndefined()
  })
  it('masks keys in messages', () => {
    expect(maskKey('sk-0123456789abcdefghijklmnop')).toBe('sk-012…op')
  })
  it('matches model allow-lists with * patterns', () => {
    expect(isModelAllowed(null, 'anything')).toBe(true)
    expect(isModelAllowed(['gpt-5.2*'], 'gpt-5.2-chat-latest')).toBe(true)
    expect(isModelAllowed(['gpt-5.2*'], 'gpt-4.1')).toBe(false)
    expect(isModelAllowed(['gpt-4.1', '*-mini'], 'gpt-5-mini')).toBe(true)
    expect(isModelAllowed(['a.b'], 'axb')).toBe(false)
  })
})
