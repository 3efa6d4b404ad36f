import { describe, expect, it } from 'vitest'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { compose, LocalController, type Dispatch, type GatewayRequest, type Principal, type ResponseHandler } from '../../src/proxy/interceptor.js'
import { answeredModel, tracingInterceptor } from '../../src/tracing/interceptor.js'
import { formatTraceParent, parseTraceParent } from '../../src/tracing/traceparent.js'
import { gatewayError, type GatewayError } from '../../src/errors.js'

const principal: Principal = { id: 'k1', name: 'alice', teamId: 't1', teamName: 'search' }

function request (over: Partial<GatewayRequest> = {}): GatewayRequest {
  return {
    id: 'req_1',
    method: 'POST',
    route: '/v1/chat/completions',
    path: '/chat/completions',
    headers: {},
    startedAt: performance.now(),
    principal,
    body: undefined,
    json: { model: 'gpt-5.2', max_tokens: 64 },
    model: 'gpt-5.2',
    stream: true,
    ...over
  }
}

/** A handler that records the calls it gets. */
function recorder (): ResponseHandler & { calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    onRequestStart: () => { calls.push('start') },
    onResponseStart: (_c, h) => { calls.push(`head ${h.status}`) },
    onResponseData: (_c, d) => { calls.push(`data ${d.length}`) },
    onResponseEnd: () => { calls.push('end') },
    onResponseError: (_c, e: GatewayError) => { calls.push(`error ${e.status}`) }
  }
}

function setup () {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const tracing = tracingInterceptor({ tracer: provider.getTracer('t'), upstreamHost: (n) => n === 'comet-a' ? 'api.cometapi.com' : undefined })
  return { exporter, tracing }
}

describe('traceparent', () => {
  it('parses valid headers and refuses malformed ones', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(parseTraceParent(tp)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 })
    expect(formatTraceParent('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 1)).toBe(tp)
    for (const bad of [undefined, '', 'xx', tp.replace('00-', 'ff-'), tp.toUpperCase(), '00-' + '0'.repeat(32) + '-00f067aa0ba902b7-01', tp + '-extra']) {
      expect(parseTraceParent(bad)).toBeUndefined()
    }
  })
})

describe('tracing interceptor', () => {
  it('gives one span per stream that ends with the stream, continues the parent, and passes itself upstream', () => {
    const { exporter, tracing } = setup()
    let seen: GatewayRequest | undefined
    let controller: LocalController | undefined
    let inner: ResponseHandler | undefined
    const terminal: Dispatch = (req, h) => {
      seen = req
      inner = h
      controller = new LocalController()
      h.onRequestStart(controller)
      h.onResponseStart(controller, { status: 200, headers: { 'x-gateway-upstream': 'comet-a', 'x-gateway-cache': 'MISS' }, kind: 'sse' })
      h.onResponseData(controller, Buffer.from('data: {"id":"c","model":"gpt-5.2-2026-01-01","choices":[]}\n\n'))
    }
    const out = recorder()
    compose(terminal, tracing)(request({ headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } }), out)
    expect(exporter.getFinishedSpans()).toHaveLength(0) // the stream is still open
    inner!.onResponseEnd(controller!, { outcome: 'ok', usage: { model: 'gpt-5.2', label: 'gpt-5.2', inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, reasoningTokens: 200, costNanos: 6_265_000, estimated: false, priced: true } })
    const [span] = exporter.getFinishedSpans()
    expect(out.calls).toEqual(['start', 'head 200', 'data 60', 'end'])
    expect(span!.name).toBe('chat gpt-5.2')
    expect(span!.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
    expect(span!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7')
    expect(seen!.headers.traceparent).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${span!.spanContext().spanId}-01`)
    expect(span!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-5.2',
      'gen_ai.response.model': 'gpt-5.2-2026-01-01',
      'gen_ai.request.max_tokens': 64,
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'server.address': 'api.cometapi.com',
      'gateway.key.name': 'alice',
      'gateway.team.name': 'search',
      'gateway.cache': 'MISS',
      'gateway.cost_usd': 0.006265,
      'gateway.upstream': 'comet-a'
    })
  })

  it('ends the span on a refusal with the error type', () => {
    const { exporter, tracing } = setup()
    const terminal: Dispatch = (_req, h) => {
      const c = new LocalController()
      h.onRequestStart(c)
      h.onResponseError(c, gatewayError('GW_ERR_UPSTREAM_UNAVAILABLE', ['refused']))
    }
    const out = recorder()
    compose(terminal, tracing)(request({ route: '/v1/responses', stream: false }), out)
    const [span] = exporter.getFinishedSpans()
    expect(out.calls).toEqual(['start', 'error 502'])
    expect(span!.attributes['error.type']).toBe('upstream_unavailable')
    expect(span!.status.code).toBe(2)
  })

  it('reads the answered model from the first bytes only', () => {
    expect(answeredModel(Buffer.from('{"id":"x","model": "m-1"}'))).toBe('m-1')
    expect(answeredModel(Buffer.from('{"id":"x"}'))).toBeUndefined()
    expect(answeredModel(Buffer.from('x'.repeat(5000) + '"model":"late"'))).toBeUndefined()
  })
})
