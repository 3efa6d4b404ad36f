import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api'
import { ForwardingHandler, type Controller, type Dispatch, type GatewayRequest, type Interceptor, type Principal, type ResponseEnd, type ResponseHandler, type ResponseHead } from '../proxy/interceptor.js'
import type { GatewayError } from '../errors.js'
import { formatTraceParent, parseTraceParent } from './traceparent.js'

export interface TracingOptions {
  readonly tracer: Tracer
  /** The host of an upstream by its name (`x-gateway-upstream`), for `server.address`. */
  readonly upstreamHost: (name: string | undefined) => string | undefined
}

/** GenAI operation names by route: chat for both chat routes. */
const OPERATIONS: Record<string, string> = {
  '/v1/chat/completions': 'chat',
  '/v1/responses': 'chat',
  '/v1/embeddings': 'embeddings',
  '/v1/completions': 'text_completion'
}

const MODEL = Buffer.from('"model":')

/**
 * The model an answer names, read from its first bytes (`"model":"…"` comes early in
 * chat chunks, completions and responses). A bounded byte search, no parse: only when
 * tracing is on.
 */
export function answeredModel (bytes: Buffer | undefined): string | undefined {
  if (bytes === undefined) return undefined
  const window = bytes.length > 4096 ? bytes.subarray(0, 4096) : bytes
  const at = window.indexOf(MODEL)
  if (at === -1) return undefined
  let i = at + MODEL.length
  while (window[i] === 0x20) i++
  if (window[i] !== 0x22) return undefined
  const end = window.indexOf(0x22, i + 1)
  if (end === -1 || end - i > 257) return undefined
  return window.toString('utf8', i + 1, end)
}

function maxTokens (json: Readonly<Record<string, unknown>> | undefined): number | undefined {
  if (json === undefined) return undefined
  const v = json.max_completion_tokens ?? json.max_tokens ?? json.max_output_tokens
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined
}

class SpanHandler extends ForwardingHandler {
  private responseModel: string | undefined
  private upstream: string | undefined
  private ended = false

  constructor (inner: ResponseHandler, private readonly span: Span, private readonly opts: TracingOptions) {
    super(inner)
  }

  override onResponseStart (controller: Controller, head: ResponseHead): void {
    const span = this.span
    span.setAttribute('http.response.status_code', head.status)
    const upstream = head.headers['x-gateway-upstream']
    this.upstream = typeof upstream === 'string' ? upstream : undefined
    if (this.upstream !== undefined) span.setAttribute('gateway.upstream', this.upstream)
    const host = this.opts.upstreamHost(this.upstream)
    if (host !== undefined) span.setAttribute('server.address', host)
    const cache = head.headers['x-gateway-cache']
    if (typeof cache === 'string') span.setAttribute('gateway.cache', cache)
    if (head.kind === 'buffered') this.responseModel = answeredModel(head.body)
    if (head.status >= 400) span.setAttribute('error.type', String(head.status))
    super.onResponseStart(controller, head)
  }

  override onResponseData (controller: Controller, chunk: Buffer): void {
    if (this.responseModel === undefined) this.responseModel = answeredModel(chunk)
    super.onResponseData(controller, chunk)
  }

  override onResponseEnd (controller: Controller, end: ResponseEnd): void {
    super.onResponseEnd(controller, end)
    this.finish(end, undefined)
  }

  override onResponseError (controller: Controller, error: GatewayError): void {
    super.onResponseError(controller, error)
    this.finish(undefined, error)
  }

  private finish (end: ResponseEnd | undefined, error: GatewayError | undefined): void {
    if (this.ended) return
    this.ended = true
    const span = this.span
    if (this.responseModel !== undefined) span.setAttribute('gen_ai.response.model', this.responseModel)
    const u = end?.usage
    if (u !== undefined) {
      span.setAttribute('gen_ai.usage.input_tokens', u.inputTokens)
      span.setAttribute('gen_ai.usage.output_tokens', u.outputTokens)
      span.setAttribute('gateway.cost_usd', u.costNanos / 1e9)
    }
    if (end !== undefined && end.outcome !== 'ok') span.setAttribute('gateway.outcome', end.outcome)
    if (error !== undefined) {
      span.setAttribute('error.type', error.openaiCode ?? error.type)
      span.setAttribute('http.response.status_code', error.status)
      if (error.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message })
    } else if (end !== undefined && end.outcome !== 'ok' && end.outcome !== 'client_abort') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: end.outcome })
    }
    span.end()
  }
}

/**
 * One span per request in the OpenTelemetry GenAI conventions (`chat gpt-5.2…`, kind
 * client): request attributes at the start, the answer's model, usage, cost, cache and
 * upstream at its end, which for a stream is when the stream ends. An incoming
 * `traceparent` is continued, and the upstream gets this span as its parent. Composed
 * only when an OTLP endpoint is configured.
 * @example compose(terminal, recorder, tracingInterceptor({ tracer, upstreamHost }), …)
 */
export function tracingInterceptor<P extends Principal> (opts: TracingOptions): Interceptor<P> {
  const { tracer } = opts
  return (next: Dispatch<P>): Dispatch<P> => (request: GatewayRequest<P>, handler: ResponseHandler) => {
    const operation = OPERATIONS[request.route]
    const parent = parseTraceParent(request.headers.traceparent)
    const parentContext = parent === undefined
      ? context.active()
      : trace.setSpanContext(context.active(), { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.traceFlags, isRemote: true })
    const name = operation !== undefined ? `${operation} ${request.model ?? ''}`.trim() : `${request.method} ${request.route}`
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: performance.timeOrigin + request.startedAt }, parentContext)
    if (operation !== undefined) span.setAttribute('gen_ai.operation.name', operation)
    span.setAttribute('gen_ai.provider.name', 'openai')
    if (request.model !== undefined) span.setAttribute('gen_ai.request.model', request.model)
    const max = maxTokens(request.json)
    if (max !== undefined) span.setAttribute('gen_ai.request.max_tokens', max)
    span.setAttribute('gateway.key.name', request.principal.name)
    if (request.principal.teamName !== null) span.setAttribute('gateway.team.name', request.principal.teamName)
    span.setAttribute('gateway.request_id', request.id)
    span.setAttribute('http.request.method', request.method)
    span.setAttribute('http.route', request.route)
    const sc = span.spanContext()
    const headers = { ...request.headers, traceparent: formatTraceParent(sc.traceId, sc.spanId, sc.traceFlags) }
    next({ ...request, headers }, new SpanHandler(handler, span, opts))
  }
}
