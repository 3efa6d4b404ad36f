import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import { group } from './harness.js'
import { compose, LocalController, type Dispatch, type GatewayRequest, type ResponseHandler } from '../../src/proxy/interceptor.js'
import { tracingInterceptor } from '../../src/tracing/interceptor.js'

/** An exporter that drops what it gets: measures the span's cost, not the network's. */
class DropExporter implements SpanExporter {
  export (_spans: ReadableSpan[], done: (r: { code: number }) => void): void { done({ code: 0 }) }
  async shutdown (): Promise<void> {}
}

/**
 * What tracing adds to one request: a synchronous fake terminal answers a buffered 200
 * with usage, with tracing off (the interceptor is not composed: the bare terminal) and on
 * (one span with every attribute, batched to an exporter that drops it).
 */
export function tracingBench (timeMs?: number): string {
  const head = { status: 200, headers: { 'x-gateway-upstream': 'default' } as Record<string, string>, kind: 'buffered' as const, body: Buffer.from('{"id":"c","model":"gpt-5.2-chat-latest","choices":[]}') }
  const usage = { model: 'gpt-5.2-chat-latest', label: 'gpt-5.2-chat-latest', inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, reasoningTokens: 200, costNanos: 6_265_000, estimated: false, priced: true }
  const terminal: Dispatch = (_req, handler) => {
    const c = new LocalController()
    handler.onRequestStart(c)
    handler.onResponseStart(c, head)
    handler.onResponseEnd(c, { outcome: 'ok', usage })
  }
  const handler: ResponseHandler = { onRequestStart () {}, onResponseStart () {}, onResponseData () {}, onResponseEnd () {}, onResponseError () {} }
  const request: GatewayRequest = { id: 'r', method: 'POST', route: '/v1/chat/completions', path: '/chat/completions', headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, startedAt: performance.now(), principal: { id: 'k', name: 'k', teamId: null, teamName: null }, body: undefined, json: { model: 'gpt-5.2-chat-latest', max_tokens: 64 }, model: 'gpt-5.2-chat-latest', stream: false }
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new DropExporter(), { maxQueueSize: 1_000_000, scheduledDelayMillis: 50 })] })
  const traced = compose(terminal, tracingInterceptor({ tracer: provider.getTracer('bench'), upstreamHost: () => 'api.cometapi.com' }))
  return group('Tracing (a request answered at once)', [
    { name: 'tracing off (not composed)', fn: () => terminal(request, handler) },
    { name: 'tracing on (one span, batched)', fn: () => traced(request, handler) }
  ], timeMs)
}
