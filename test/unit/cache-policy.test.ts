import { describe, expect, it } from 'vitest'
import { cacheDirective, cacheTtl, isCacheableRequest, isCompleteAnswer, MAX_TTL_SECONDS } from '../../src/cache/policy.js'

const sse = (lastEvent: string | undefined, sawDone: boolean) => ({
  lastEvent: lastEvent === undefined ? undefined : Buffer.from(lastEvent),
  strippedEvent: undefined,
  sawDone,
  events: 3
})
const streamed = { status: 200, outcome: 'ok' as const, responseBody: undefined, upstreamHeaders: { 'content-type': 'text/event-stream; charset=utf-8' } }

describe('cache TTL', () => {
  it('takes the request header first, then the key, then the global setting', () => {
    expect(cacheTtl({ 'x-gateway-cache-ttl': '30' }, 600, 60)).toBe(30)
    expect(cacheTtl({ 'x-gateway-cache-ttl': '0' }, 600, 60)).toBe(0)
    expect(cacheTtl({}, 600, 60)).toBe(600)
    expect(cacheTtl({}, null, 60)).toBe(60)
    expect(cacheTtl({}, 0, 60)).toBe(60)
    expect(cacheTtl({}, null, 0)).toBe(0)
  })

  it('ignores a header that is not a whole number and caps a huge one', () => {
    expect(cacheTtl({ 'x-gateway-cache-ttl': 'soon' }, null, 60)).toBe(60)
    expect(cacheTtl({ 'x-gateway-cache-ttl': '-5' }, null, 0)).toBe(0)
    expect(cacheTtl({ 'x-gateway-cache-ttl': '99999999999' }, null, 0)).toBe(MAX_TTL_SECONDS)
  })
})

describe('cache directive', () => {
  it('refreshes on no-cache or x-gateway-cache: bypass, and stores nothing on no-store', () => {
    expect(cacheDirective({})).toBe('use')
    expect(cacheDirective({ 'cache-control': 'no-cache' })).toBe('refresh')
    expect(cacheDirective({ 'cache-control': 'max-age=0, No-Cache' })).toBe('refresh')
    expect(cacheDirective({ 'x-gateway-cache': 'BYPASS' })).toBe('refresh')
    expect(cacheDirective({ 'cache-control': 'no-store' })).toBe('no-store')
    expect(cacheDirective({ 'cache-control': 'max-age=60' })).toBe('use')
  })
})

describe('cacheable requests', () => {
  it('are POSTs with a JSON object body, except background responses', () => {
    expect(isCacheableRequest({ method: 'POST', json: { model: 'm' } })).toBe(true)
    expect(isCacheableRequest({ method: 'GET', json: undefined })).toBe(false)
    expect(isCacheableRequest({ method: 'POST', json: undefined })).toBe(false)
    expect(isCacheableRequest({ method: 'POST', json: { model: 'm', background: true } })).toBe(false)
  })
})

describe('complete answers', () => {
  it('accepts a 200 JSON body and rejects errors and broken bodies', () => {
    const json = { status: 200, outcome: 'ok' as const, responseBody: Buffer.from('{}'), sse: undefined, upstreamHeaders: { 'content-type': 'application/json' } }
    expect(isCompleteAnswer(json)).toBe(true)
    expect(isCompleteAnswer({ ...json, status: 429 })).toBe(false)
    expect(isCompleteAnswer({ ...json, outcome: 'upstream_error' })).toBe(false)
    expect(isCompleteAnswer({ ...json, upstreamHeaders: { 'content-type': 'audio/mpeg' } })).toBe(false)
  })

  it('accepts a chat stream with [DONE] and a Responses stream ending in response.completed', () => {
    expect(isCompleteAnswer({ ...streamed, sse: sse('data: {"choices":[]}\n\n', true) })).toBe(true)
    expect(isCompleteAnswer({ ...streamed, sse: sse('event: response.completed\ndata: {"type":"response.completed"}\n\n', false) })).toBe(true)
    expect(isCompleteAnswer({ ...streamed, sse: sse('data: {"type":"response.completed"}\n\n', false) })).toBe(true)
  })

  it('rejects streams without their terminal event, failed responses and broken streams', () => {
    expect(isCompleteAnswer({ ...streamed, sse: sse('data: {"choices":[{"delta":{}}]}\n\n', false) })).toBe(false)
    expect(isCompleteAnswer({ ...streamed, sse: sse('event: response.failed\ndata: {"type":"response.failed"}\n\n', false) })).toBe(false)
    expect(isCompleteAnswer({ ...streamed, sse: sse('event: response.output_text.delta\ndata: {}\n\n', false) })).toBe(false)
    expect(isCompleteAnswer({ ...streamed, outcome: 'client_abort', sse: sse(undefined, true) })).toBe(false)
  })
})
