import { describe, expect, it } from 'vitest'
import { gatewayError } from '../../src/errors.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { recorder } from '../../src/metrics/recorder.js'
import { compose, refuse, type Interceptor } from '../../src/proxy/interceptor.js'
import type { KeyPrincipal } from '../../src/auth/principal.js'
import { captureLog, Collector, FakeUpstream, gatewayRequest } from './fake-dispatch.js'

const MODEL = 'gpt-5.2-chat-latest'

function setup (inner: Array<Interceptor<KeyPrincipal>> = []) {
  const metrics = createMetrics(undefined, { defaultMetrics: false })
  const { log, lines } = captureLog()
  const upstream = new FakeUpstream()
  const dispatch = compose<KeyPrincipal>(upstream.dispatch, recorder({ metrics, log, modelLabel: (m) => m === MODEL ? MODEL : 'other' }), ...inner)
  const count = async (labels: Record<string, string>): Promise<number> => {
    const v = (await metrics.requests.get()).values.filter((x) => Object.entries(labels).every(([k, val]) => String(x.labels[k as keyof typeof x.labels]) === val))
    return v.reduce((s, x) => s + x.value, 0)
  }
  return { metrics, lines, upstream, dispatch, count }
}

describe('recorder interceptor', () => {
  it('records a relayed answer once, after it ended: status, bytes, ttfb, usage, cache header', async () => {
    const { lines, upstream, dispatch, count, metrics } = setup()
    const client = new Collector()
    dispatch(gatewayRequest({ json: { model: MODEL, messages: [] } }), client)
    expect(lines).toHaveLength(0)
    upstream.sse(0, { 'x-gateway-cache': 'MISS', 'x-request-id': 'up_1' })
    upstream.chunk('data: {"a":1}\n\n')
    upstream.chunk('data: [DONE]\n\n')
    const usage = { model: MODEL, label: MODEL, inputTokens: 3, cachedInputTokens: 0, outputTokens: 4, reasoningTokens: 0, costNanos: 2000, estimated: false, priced: true }
    upstream.end({ outcome: 'ok', usage })
    expect(client.end).toEqual({ outcome: 'ok', usage })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ status: 200, outcome: 'ok', stream: true, bytes: 29, cache: 'MISS', upstreamRequestId: 'up_1', keyName: 'test', tokens: { input: 3, output: 4 }, costUsd: 0.000002 })
    expect(await count({ route: '/v1/chat/completions', model: MODEL, key: 'test', status: '200' })).toBe(1)
    expect((await metrics.ttfb.get()).values.find((v) => v.metricName === 'gateway_upstream_ttfb_seconds_count')?.value).toBe(1)
  })

  it('records a refusal from an inner interceptor, with the model label of the request', async () => {
    const refuser: Interceptor<KeyPrincipal> = () => (_req, handler) => { refuse(handler, gatewayError('GW_ERR_MODEL_NOT_ALLOWED', [MODEL])) }
    const { lines, dispatch, count, metrics } = setup([refuser])
    const client = new Collector()
    dispatch(gatewayRequest({ json: { model: MODEL, messages: [] } }), client)
    expect(client.error?.status).toBe(403)
    expect(lines[0]).toMatchObject({ status: 403, outcome: 'refused', model: MODEL })
    expect(await count({ model: MODEL, status: '403' })).toBe(1)
    // No upstream answered: no TTFB.
    expect((await metrics.ttfb.get()).values.find((v) => v.metricName === 'gateway_upstream_ttfb_seconds_count')).toBeUndefined()
  })

  it('marks an answer the client left as client_abort, even when it went on for others', async () => {
    const { lines, upstream, dispatch } = setup()
    const client = new Collector()
    dispatch(gatewayRequest({ json: { model: MODEL, stream: true } }), client)
    upstream.sse()
    // The client side aborts through the controller it got; here the producer carries on.
    client.ctrl!.abort(new Error('gone'))
    expect(upstream.last().ctrl.aborted).toBe(true)
    upstream.end({ outcome: 'ok' })
    expect(lines[0]).toMatchObject({ outcome: 'client_abort' })
  })

  it('counts upstream failures before the head by kind, and logs them as warnings', async () => {
    const { lines, upstream, dispatch, metrics } = setup()
    const client = new Collector()
    dispatch(gatewayRequest({ json: { model: MODEL } }), client)
    upstream.last().handler.onResponseError(upstream.last().ctrl, gatewayError('GW_ERR_UPSTREAM_TIMEOUT', [100]))
    expect(lines[0]).toMatchObject({ status: 504, outcome: 'upstream_timeout', level: 40 })
    expect((await metrics.upstreamErrors.get()).values).toEqual([expect.objectContaining({ labels: { route: '/v1/chat/completions', kind: 'timeout' }, value: 1 })])
  })
})
