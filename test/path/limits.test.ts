import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { keyPrincipal, type KeyPrincipal } from '../../src/auth/principal.js'
import { configFrom } from '../../src/config/load.js'
import { createLogger } from '../../src/log.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { compose } from '../../src/proxy/interceptor.js'
import { createRateLimitFeature } from '../../src/ratelimit/feature.js'
import { Collector, FakeUpstream, gatewayRequest, testKey, tick } from './fake-dispatch.js'

const NOW = Date.UTC(2026, 10, 29, 15, 0, 0)
const usage = (tokens: number) => ({ model: 'm', label: 'other', inputTokens: tokens, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0, costNanos: 0, estimated: false, priced: false })

function setup () {
  const config = configFrom({ UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1', DATA_DIR: '/tmp' })
  const log = createLogger('silent', new Writable({ write (_c, _e, cb) { cb() } }))
  const limits = createRateLimitFeature({ config, log, metrics: createMetrics(undefined, { defaultMetrics: false }), redis: undefined, sqlite: undefined }, undefined, { clock: () => NOW })
  const upstream = new FakeUpstream()
  return { upstream, dispatch: compose<KeyPrincipal>(upstream.dispatch, limits.interceptor!) }
}

describe('limits interceptor', () => {
  it('adds the rate-limit headers to answers and refuses over rpm with a 429 carrying them', async () => {
    const { upstream, dispatch } = setup()
    const principal = keyPrincipal(testKey({ rpm: 1 }))
    const first = new Collector()
    dispatch(gatewayRequest({ principal, json: { model: 'm' } }), first)
    await tick()
    upstream.json(200, {})
    expect(first.head?.headers).toMatchObject({ 'x-ratelimit-limit-requests': '1', 'x-ratelimit-remaining-requests': '0' })
    const second = new Collector()
    dispatch(gatewayRequest({ principal, json: { model: 'm' } }), second)
    await second.finished()
    expect(upstream.calls).toHaveLength(1)
    expect(second.error?.status).toBe(429)
    expect(second.error?.headers).toMatchObject({ 'x-ratelimit-remaining-requests': '0', 'retry-after': expect.any(String) })
  })

  it('debits the tokens of an answer from tpm, but not those of a cache hit', async () => {
    const { upstream, dispatch } = setup()
    const principal = keyPrincipal(testKey({ tpm: 1000 }))
    const run = async (headers: Record<string, string>, tokens: number): Promise<string> => {
      const c = new Collector()
      dispatch(gatewayRequest({ principal, json: { model: 'm', max_tokens: 100 } }), c)
      await tick()
      const call = upstream.last()
      call.handler.onResponseStart(call.ctrl, { status: 200, headers: { 'content-type': 'application/json', ...headers }, kind: 'buffered', body: Buffer.from('{}') })
      call.handler.onResponseEnd(call.ctrl, { outcome: 'ok', usage: usage(tokens) })
      await tick()
      return String(c.head?.headers['x-ratelimit-remaining-tokens'])
    }
    // Each request reserves its worst case while it runs (8 tokens of body + max_tokens 100),
    // which the header counts; the answer then settles to its real tokens.
    expect(await run({ 'x-gateway-cache': 'HIT' }, 300)).toBe('892')
    expect(await run({}, 300)).toBe('892')
    // The hit above debited nothing; the answer after it took 300.
    expect(await run({}, 0)).toBe('592')
  })

  it('passes a key without limits straight on, synchronously', () => {
    const { upstream, dispatch } = setup()
    dispatch(gatewayRequest({ json: { model: 'm' } }), new Collector())
    expect(upstream.calls).toHaveLength(1)
  })
})
