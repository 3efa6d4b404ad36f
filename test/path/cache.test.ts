import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import type { KeyPrincipal } from '../../src/auth/principal.js'
import { createCacheFeature } from '../../src/cache/feature.js'
import { configFrom } from '../../src/config/load.js'
import { createLogger } from '../../src/log.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { compose } from '../../src/proxy/interceptor.js'
import { Collector, FakeUpstream, gatewayRequest, tick } from './fake-dispatch.js'

const body = { model: 'm', stream: true, messages: [{ role: 'user', content: 'coalesce me' }] }
const events = ['data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 'data: {"choices":[{"delta":{"content":"b"}}]}\n\n', 'data: [DONE]\n\n']

async function until (check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await tick()
  expect(check()).toBe(true)
}

function setup () {
  const config = configFrom({ UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1', DATA_DIR: '/tmp', CACHE_TTL_SECONDS: 60 })
  const log = createLogger('silent', new Writable({ write (_c, _e, cb) { cb() } }))
  const cache = createCacheFeature({ config, log, metrics: createMetrics(undefined, { defaultMetrics: false }), redis: undefined, sqlite: undefined })
  const upstream = new FakeUpstream()
  return { upstream, dispatch: compose<KeyPrincipal>(upstream.dispatch, cache.interceptor!) }
}

describe('cache interceptor', () => {
  it('coalesces an identical stream, keeps it going when the leader leaves, then answers from the store', async () => {
    const { upstream, dispatch } = setup()
    const leader = new Collector()
    dispatch(gatewayRequest({ json: body }), leader)
    await until(() => upstream.calls.length === 1)
    upstream.sse()
    upstream.chunk(events[0]!)
    expect(leader.head?.headers['x-gateway-cache']).toBe('MISS')

    const follower = new Collector()
    dispatch(gatewayRequest({ json: body }), follower)
    await until(() => follower.chunks.length === 1)
    expect(follower.head?.headers).toMatchObject({ 'x-gateway-cache': 'HIT', age: '0' })

    // The leader's client leaves: a follower waits, so the upstream is not aborted.
    leader.ctrl!.abort(new Error('gone'))
    expect(upstream.last().ctrl.aborted).toBe(false)
    upstream.chunk(events[1]!)
    upstream.chunk(events[2]!)
    upstream.end()
    await follower.finished()
    expect(follower.text()).toBe(events.join(''))
    expect(follower.end?.outcome).toBe('ok')

    // The entry is stored once the answer is over (encoding is asynchronous).
    for (let i = 0; i < 10; i++) await tick()
    const later = new Collector()
    dispatch(gatewayRequest({ json: body }), later)
    await later.finished()
    expect(later.head?.headers['x-gateway-cache']).toBe('HIT')
    expect(later.text()).toBe(events.join(''))
    expect(upstream.calls).toHaveLength(1)
  })

  it('aborts the upstream when the leader leaves and nobody follows, and stores nothing', async () => {
    const { upstream, dispatch } = setup()
    const leader = new Collector()
    dispatch(gatewayRequest({ json: body }), leader)
    await until(() => upstream.calls.length === 1)
    upstream.sse()
    upstream.chunk(events[0]!)
    leader.ctrl!.abort(new Error('gone'))
    expect(upstream.last().ctrl.aborted).toBe(true)
    upstream.end({ outcome: 'client_abort' })
    await tick()
    const next = new Collector()
    dispatch(gatewayRequest({ json: body }), next)
    await until(() => upstream.calls.length === 2)
    expect(next.ctrl).toBeDefined()
  })

  it('lets waiters of a failed leader go upstream themselves', async () => {
    const { upstream, dispatch } = setup()
    const json = { model: 'm', messages: [] }
    const a = new Collector()
    const b = new Collector()
    dispatch(gatewayRequest({ json }), a)
    await until(() => upstream.calls.length === 1)
    dispatch(gatewayRequest({ json }), b)
    await tick()
    upstream.json(500, { error: { message: 'boom' } })
    expect(a.head?.status).toBe(500)
    await until(() => upstream.calls.length === 2)
    upstream.json(200, { ok: true })
    expect(b.head?.status).toBe(200)
    expect(b.head?.headers['x-gateway-cache']).toBe('MISS')
  })
})
