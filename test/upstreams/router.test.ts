import { afterEach, describe, expect, it, vi } from 'vitest'
import { createMetrics } from '../../src/metrics/metrics.js'
import { createUpstreamRouter, type RouterOptions } from '../../src/upstreams/router.js'
import { waitFor } from '../helpers/gateway.js'
import { fakeUpstream, recordingHandler, request, type FakeUpstream } from './fake-dispatch.js'

function route (upstreams: FakeUpstream[], options: Partial<RouterOptions> = {}, model?: string) {
  const dispatch = createUpstreamRouter(upstreams, { retries: 2, random: () => 0, ...options })
  const { handler, seen } = recordingHandler()
  dispatch(request(model), handler)
  return seen
}

const ok = { type: 'status', status: 200 } as const
const refused = { type: 'error', code: 'GW_ERR_UPSTREAM_UNAVAILABLE' } as const
const timeout = { type: 'error', code: 'GW_ERR_UPSTREAM_TIMEOUT' } as const
const status = (s: number, headers: Record<string, string> = {}) => ({ type: 'status', status: s, headers, body: `{"from":${s}}` } as const)

afterEach(() => { vi.useRealTimers() })

describe('upstream router: failover', () => {
  it('names the upstream that served the answer, and passes it on whole', async () => {
    const a = fakeUpstream('a', [ok])
    const seen = route([a])
    await seen.done
    expect(seen.events).toEqual(['start', 'head 200', 'end ok'])
    expect(seen.head!.headers['x-gateway-upstream']).toBe('a')
    expect(seen.head!.headers['x-should-retry']).toBeUndefined()
  })

  it.each([
    ['a connection error', refused],
    ['no headers in time', timeout],
    ['429', status(429)],
    ['500', status(500)],
    ['502', status(502)],
    ['503', status(503)],
    ['504', status(504)]
  ])('retries %s on another upstream and passes on nothing of the failed attempt', async (_name, failure) => {
    const a = fakeUpstream('a', [failure])
    const b = fakeUpstream('b', [{ type: 'status', status: 200, body: '{"from":"b"}' }])
    const seen = route([a, b])
    await seen.done
    expect(seen.events).toEqual(['start', 'head 200', 'end ok'])
    expect(seen.head!.body!.toString()).toBe('{"from":"b"}')
    expect(seen.head!.headers['x-gateway-upstream']).toBe('b')
    expect(seen.head!.headers['x-should-retry']).toBeUndefined()
    expect(a.requests).toHaveLength(1)
    expect(b.requests).toHaveLength(1)
    // The same immutable request goes to each attempt.
    expect(b.requests[0]).toBe(a.requests[0])
  })

  it.each([400, 401, 403, 404, 422, 501])('answers %i from the upstream without a retry', async (s) => {
    const a = fakeUpstream('a', [status(s)])
    const b = fakeUpstream('b', [ok])
    const seen = route([a, b])
    await seen.done
    expect(seen.events).toEqual(['start', `head ${s}`, 'end ok'])
    expect(seen.head!.headers['x-gateway-upstream']).toBe('a')
    expect(seen.head!.headers['x-should-retry']).toBeUndefined()
    expect(b.requests).toHaveLength(0)
  })

  it('does not retry a redirect or a missing key (no other upstream would do better)', async () => {
    const a = fakeUpstream('a', [{ type: 'error', code: 'GW_ERR_UPSTREAM_REDIRECT' }])
    const b = fakeUpstream('b', [ok])
    const seen = route([a, b])
    await seen.done
    expect(seen.events).toEqual(['start', 'error GW_ERR_UPSTREAM_REDIRECT'])
    expect(seen.error!.headers['x-gateway-upstream']).toBe('a')
    expect(b.requests).toHaveLength(0)
  })

  it('at most UPSTREAM_RETRIES more attempts; the client gets the last upstream error with x-should-retry: false', async () => {
    const ups = [fakeUpstream('a', [status(500)]), fakeUpstream('b', [status(503)]), fakeUpstream('c', [status(502)]), fakeUpstream('d', [status(504)])]
    const seen = route(ups, { retries: 2 })
    await seen.done
    expect(seen.events).toEqual(['start', 'head 502', 'end ok'])
    expect(seen.head!.body!.toString()).toBe('{"from":502}')
    expect(seen.head!.headers['x-gateway-upstream']).toBe('c')
    expect(seen.head!.headers['x-should-retry']).toBe('false')
    expect(ups.map((u) => u.requests.length)).toEqual([1, 1, 1, 0])
  })

  it('when every attempt failed to connect, the last gateway error (502/504) names its upstream', async () => {
    const seen = route([fakeUpstream('a', [refused]), fakeUpstream('b', [timeout])], { retries: 1 })
    await seen.done
    expect(seen.events).toEqual(['start', 'error GW_ERR_UPSTREAM_TIMEOUT'])
    expect(seen.error!.status).toBe(504)
    expect(seen.error!.headers).toMatchObject({ 'x-gateway-upstream': 'b', 'x-should-retry': 'false' })
  })

  it('UPSTREAM_RETRIES=0: one attempt, and no x-should-retry since the gateway did not retry', async () => {
    const a = fakeUpstream('a', [status(503)])
    const b = fakeUpstream('b', [ok])
    const seen = route([a, b], { retries: 0 })
    await seen.done
    expect(seen.events).toEqual(['start', 'head 503', 'end ok'])
    expect(seen.head!.headers['x-should-retry']).toBeUndefined()
    expect(b.requests).toHaveLength(0)
  })

  it('retries the same upstream only when there is no other', async () => {
    const only = fakeUpstream('only', [status(500), refused, ok])
    const seen = route([only])
    await seen.done
    expect(seen.events).toEqual(['start', 'head 200', 'end ok'])
    expect(only.requests).toHaveLength(3)

    const a = fakeUpstream('a', [status(500)])
    const b = fakeUpstream('b', [status(500)])
    const order: string[] = []
    for (const u of [a, b]) {
      const d = u.dispatch
      Object.assign(u, { dispatch: (r: never, h: never) => { order.push(u.name); d(r, h) } })
    }
    const seen2 = route([a, b], { retries: 3 })
    await seen2.done
    expect(order).toEqual(['a', 'b', 'a', 'b'])
  })

  it('gives the handler one stable controller across attempts', async () => {
    const seen = route([fakeUpstream('a', [refused]), fakeUpstream('b', [status(500)]), fakeUpstream('c', [ok])])
    await seen.done
    expect(seen.controllers.size).toBe(1)
  })

  it('a streamed error head is stopped before the retry', async () => {
    const a = fakeUpstream('a', [{ type: 'status', status: 503, kind: 'sse' }])
    const b = fakeUpstream('b', [ok])
    const seen = route([a, b])
    await seen.done
    expect(seen.events).toEqual(['start', 'head 200', 'end ok'])
    expect(a.controllers[0]!.aborted).toBe(true)
  })
})

describe('upstream router: retry-after', () => {
  it('waits for a retry-after up to 2 s before trying the same upstream again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const a = fakeUpstream('a', [status(429, { 'retry-after': '2' }), ok])
    const seen = route([a], { now: Date.now })
    await vi.advanceTimersByTimeAsync(1990)
    expect(a.requests).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(20)
    await seen.done
    expect(a.requests).toHaveLength(2)
    expect(seen.events).toEqual(['start', 'head 200', 'end ok'])
  })

  it('reads retry-after-ms too', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const a = fakeUpstream('a', [status(503, { 'retry-after-ms': '1500' }), ok])
    const seen = route([a], { now: Date.now })
    await vi.advanceTimersByTimeAsync(1400)
    expect(a.requests).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(200)
    await seen.done
    expect(a.requests).toHaveLength(2)
  })

  it('another upstream goes at once, whatever the failed one asked', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const a = fakeUpstream('a', [status(429, { 'retry-after': '2' })])
    const b = fakeUpstream('b', [ok])
    const seen = route([a, b], { now: Date.now })
    await vi.advanceTimersByTimeAsync(5)
    await seen.done
    expect(seen.head!.headers['x-gateway-upstream']).toBe('b')
  })

  it('a longer retry-after is not waited for: with no other upstream the client gets that 429 and its retry-after', async () => {
    const a = fakeUpstream('a', [status(429, { 'retry-after': '3' }), ok])
    const seen = route([a])
    await seen.done
    expect(seen.events).toEqual(['start', 'head 429', 'end ok'])
    expect(seen.head!.headers['retry-after']).toBe('3')
    expect(seen.head!.headers['x-should-retry']).toBeUndefined()
    expect(a.requests).toHaveLength(1)
  })

  it('a longer retry-after moves on to the next upstream and keeps the first out of this request', async () => {
    const a = fakeUpstream('a', [status(429, { 'retry-after': '30' })])
    const b = fakeUpstream('b', [status(500), ok])
    const seen = route([a, b], { retries: 2 })
    await seen.done
    expect(seen.head!.headers['x-gateway-upstream']).toBe('b')
    expect(a.requests).toHaveLength(1)
    expect(b.requests).toHaveLength(2)
  })
})

describe('upstream router: x-should-retry from the upstream', () => {
  it('x-should-retry: false keeps that upstream out of the request, another may serve it', async () => {
    const a = fakeUpstream('a', [status(429, { 'x-should-retry': 'false' })])
    const b = fakeUpstream('b', [ok])
    const seen = route([a, b])
    await seen.done
    expect(seen.head!.headers['x-gateway-upstream']).toBe('b')
    const only = fakeUpstream('only', [status(429, { 'x-should-retry': 'false' }), ok])
    const alone = route([only])
    await alone.done
    expect(alone.events).toEqual(['start', 'head 429', 'end ok'])
    expect(only.requests).toHaveLength(1)
  })
})

describe('upstream router: nothing is retried once the answer started', () => {
  it('a stream that breaks after its first byte reaches the client as broken, on one attempt', async () => {
    const a = fakeUpstream('a', [{ type: 'stream', chunks: ['data: {"x":1}\n\n', 'data: {"x'], breaks: true }])
    const b = fakeUpstream('b', [ok])
    const seen = route([a, b])
    await seen.done
    expect(seen.events).toEqual(['start', 'head 200', 'data', 'data', 'end upstream_error'])
    expect(seen.head!.headers['x-gateway-upstream']).toBe('a')
    expect(b.requests).toHaveLength(0)
  })
})

describe('upstream router: backpressure and abort', () => {
  it('pause, resume and abort reach the current attempt', async () => {
    const a = fakeUpstream('a', [refused])
    const b = fakeUpstream('b', [{ type: 'hang' }])
    const dispatch = createUpstreamRouter([a, b], { retries: 2, random: () => 0 })
    const { handler, seen } = recordingHandler()
    dispatch(request(), handler)
    await waitFor(() => b.controllers.length === 1)
    expect(b.controllers).toHaveLength(1)
    const outer = [...seen.controllers][0] as { pause (): void, resume (): void, abort (e: Error): void }
    outer.pause()
    expect(b.controllers[0]!.paused).toBe(true)
    expect(a.controllers[0]!.paused).toBe(false)
    outer.resume()
    expect(b.controllers[0]!.paused).toBe(false)
    outer.abort(new Error('client left'))
    await seen.done
    expect(b.controllers[0]!.aborted).toBe(true)
    expect(seen.events).toEqual(['start', 'error GW_ERR_CLIENT_CLOSED'])
    // An aborted attempt is not retried.
    expect(a.requests.length + b.requests.length).toBe(2)
  })

  it('a pause that came between attempts holds the next attempt too', async () => {
    const a = fakeUpstream('a', [refused])
    const b = fakeUpstream('b', [{ type: 'hang' }])
    const dispatch = createUpstreamRouter([a, b], { retries: 2, random: () => 0 })
    const { handler, seen } = recordingHandler({ onStart: (c) => c.pause() })
    dispatch(request(), handler)
    await waitFor(() => b.controllers.length === 1)
    expect(b.controllers[0]!.paused).toBe(true)
    const outer = [...seen.controllers][0] as { abort (e: Error): void }
    outer.abort(new Error('bye'))
    await seen.done
  })

  it('a client that leaves while the router waits to retry ends the request; no further attempt', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const a = fakeUpstream('a', [status(503, { 'retry-after': '2' }), ok])
    const dispatch = createUpstreamRouter([a], { retries: 2, now: Date.now })
    const { handler, seen } = recordingHandler()
    dispatch(request(), handler)
    await vi.advanceTimersByTimeAsync(100)
    const outer = [...seen.controllers][0] as { abort (e: Error): void }
    outer.abort(new Error('client left'))
    await vi.advanceTimersByTimeAsync(5000)
    await seen.done
    expect(seen.events).toEqual(['start', 'error GW_ERR_CLIENT_CLOSED'])
    expect(a.requests).toHaveLength(1)
  })

  it('a client that left in onRequestStart gets an end and no attempt goes out', async () => {
    const a = fakeUpstream('a', [ok])
    const dispatch = createUpstreamRouter([a], { retries: 2 })
    const { handler, seen } = recordingHandler({ onStart: (c) => c.abort(new Error('gone')) })
    dispatch(request(), handler)
    await seen.done
    expect(seen.events).toEqual(['start', 'error GW_ERR_CLIENT_CLOSED'])
    expect(a.requests).toHaveLength(0)
  })
})

describe('upstream router: models and cooldown', () => {
  it('sends each model only to the upstreams that serve it', async () => {
    const mini = fakeUpstream('mini', [ok], { models: ['*-mini'] })
    const big = fakeUpstream('big', [ok], { models: ['gpt-5.2*'] })
    const s1 = route([mini, big], {}, 'gpt-5.2-chat-latest')
    await s1.done
    expect(s1.head!.headers['x-gateway-upstream']).toBe('big')
    const s2 = route([mini, big], {}, 'gpt-4o-mini')
    await s2.done
    expect(s2.head!.headers['x-gateway-upstream']).toBe('mini')
  })

  it('a failure is retried only on upstreams that serve the model', async () => {
    const big = fakeUpstream('big', [status(500), ok], { models: ['gpt-5.2*'] })
    const mini = fakeUpstream('mini', [ok], { models: ['*-mini'] })
    const seen = route([big, mini], {}, 'gpt-5.2')
    await seen.done
    expect(seen.head!.headers['x-gateway-upstream']).toBe('big')
    expect(mini.requests).toHaveLength(0)
  })

  it('a model no upstream serves is 404 model_not_found', async () => {
    const seen = route([fakeUpstream('mini', [ok], { models: ['*-mini'] })], {}, 'claude')
    await seen.done
    expect(seen.events).toEqual(['start', 'error GW_ERR_MODEL_NOT_SERVED'])
    expect(seen.error!.status).toBe(404)
    expect(seen.error!.toJSON().error).toMatchObject({ code: 'model_not_found', param: 'model' })
  })

  it('N failures in a row: no traffic for the cooldown, then one probe decides', async () => {
    let now = 0
    const changes: string[] = []
    const a = fakeUpstream('a', [refused], { failuresToCooldown: 2, cooldownMs: 1000, onChange: (up) => changes.push(`a ${up ? 'up' : 'down'}`) })
    const b = fakeUpstream('b', [ok])
    const opts = { retries: 1, now: () => now, random: () => 0 }
    // Two requests fail on a (then succeed on b): a is cooling.
    for (let i = 0; i < 2; i++) await route([a, b], opts).done
    expect(a.requests).toHaveLength(2)
    expect(changes).toEqual(['a down'])
    // During the cooldown every request goes to b, whatever the weights say.
    now = 999
    for (let i = 0; i < 3; i++) expect((await done(route([a, b], opts))).head!.headers['x-gateway-upstream']).toBe('b')
    expect(a.requests).toHaveLength(2)
    // Cooldown over: the next request probes a, and only that one while the probe is out.
    now = 1000
    a.script = [{ type: 'hang' }]
    const probe = route([a, b], opts)
    const other = await done(route([a, b], opts))
    expect(a.requests).toHaveLength(3)
    expect(other.head!.headers['x-gateway-upstream']).toBe('b')
    // The probe fails (its connection breaks): a full cooldown again, and the probe request is retried on b.
    a.failHanging('GW_ERR_UPSTREAM_UNAVAILABLE')
    await probe.done
    expect(probe.events).toEqual(['start', 'head 200', 'end ok'])
    expect(probe.head!.headers['x-gateway-upstream']).toBe('b')
    now = 1999
    await done(route([a, b], opts))
    expect(a.requests).toHaveLength(3)
    // Next probe succeeds: a takes traffic again.
    now = 2000
    a.script = [ok]
    expect((await done(route([a, b], opts))).head!.headers['x-gateway-upstream']).toBe('a')
    expect(changes).toEqual(['a down', 'a up'])
    expect((await done(route([a, b], opts))).head!.headers['x-gateway-upstream']).toBe('a')
  })

  it('a probe whose client left gives no verdict: the next request probes', async () => {
    let now = 0
    const a = fakeUpstream('a', [refused], { failuresToCooldown: 1, cooldownMs: 1000 })
    const b = fakeUpstream('b', [ok])
    const opts = { retries: 1, now: () => now, random: () => 0 }
    await done(route([a, b], opts))
    now = 1000
    a.script = [{ type: 'hang' }]
    const dispatch = createUpstreamRouter([a, b], opts)
    const { handler, seen } = recordingHandler()
    dispatch(request(), handler)
    await waitFor(() => a.controllers.length === 2)
    ;([...seen.controllers][0] as { abort (e: Error): void }).abort(new Error('client left'))
    await seen.done
    expect(a.requests).toHaveLength(2)
    a.script = [ok]
    expect((await done(route([a, b], opts))).head!.headers['x-gateway-upstream']).toBe('a')
    expect(a.health.up).toBe(true)
  })

  it('every upstream of the model cooling down: 502 with a retry-after, nothing sent', async () => {
    let now = 0
    const a = fakeUpstream('a', [refused], { failuresToCooldown: 1, cooldownMs: 5000 })
    const first = await done(route([a], { now: () => now, retries: 0 }))
    expect(first.error!.code).toBe('GW_ERR_UPSTREAM_UNAVAILABLE')
    now = 1200
    const seen = await done(route([a], { now: () => now }))
    expect(seen.events).toEqual(['start', 'error GW_ERR_UPSTREAM_UNAVAILABLE'])
    expect(seen.error!.message).toContain('cooling down')
    expect(seen.error!.headers['retry-after']).toBe('4')
    expect(seen.error!.headers['x-gateway-upstream']).toBeUndefined()
    expect(a.requests).toHaveLength(1)
  })

  it('a 4xx answer counts as the upstream being up', async () => {
    const a = fakeUpstream('a', [status(400)], { failuresToCooldown: 1 })
    await done(route([a]))
    await done(route([a]))
    expect(a.health.up).toBe(true)
    expect(a.requests).toHaveLength(2)
  })
})

describe('upstream router: metrics', () => {
  it('counts attempts by outcome and retries by the failed upstream and reason', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false })
    const a = fakeUpstream('a', [refused])
    const b = fakeUpstream('b', [status(429)])
    const c = fakeUpstream('c', [ok])
    await done(route([a, b, c], { metrics }))
    const text = await metrics.registry.metrics()
    expect(text).toContain('gateway_upstream_requests_total{upstream="a",outcome="unavailable"} 1')
    expect(text).toContain('gateway_upstream_requests_total{upstream="b",outcome="rate_limited"} 1')
    expect(text).toContain('gateway_upstream_requests_total{upstream="c",outcome="ok"} 1')
    expect(text).toContain('gateway_upstream_retries_total{upstream="a",reason="unavailable"} 1')
    expect(text).toContain('gateway_upstream_retries_total{upstream="b",reason="429"} 1')
    expect(text).not.toContain('gateway_upstream_retries_total{upstream="c"')
  })
})

async function done<T extends { done: Promise<void> }> (seen: T): Promise<T> {
  await seen.done
  return seen
}
