import type { Logger } from 'pino'
import { counterCell, histogramCell, type CounterCell, type HistogramCell } from './cells.js'
import type { Metrics } from './metrics.js'
import type { GatewayError } from '../errors.js'
import type { Controller, GatewayRequest, Interceptor, Principal, ResponseEnd, ResponseHandler, ResponseHead, UsageSummary } from '../proxy/interceptor.js'
import { scrubSecrets } from '../log.js'
import { requestLineWriter, type RequestLine } from './log-line.js'

const NANOS_PER_USD = 1e9

export interface RecorderOptions {
  readonly metrics: Metrics
  readonly log: Logger
  /** The metrics label of a requested model (a priced name or `other`), when metering reported none. */
  readonly modelLabel: (model: string | undefined) => string
}

interface Timing { readonly route: string, readonly model: string, readonly duration: HistogramCell, ttfb: HistogramCell | undefined }

/** What the log line says about how an answer ended. */
type Recorded = ResponseEnd['outcome'] | 'refused'

/**
 * The outermost interceptor: the one recording path of every `/v1` answer (relayed,
 * answered from the cache, or refused by any feature or by the auth hook): one log line
 * and the request metrics, once the answer is over. Each label set is a metric cell
 * resolved once (src/metrics/cells.ts), so the hot path does no label hashing.
 * @example compose(terminal, recorder({ metrics, log, modelLabel }), limits, metering)
 */
export function recorder<P extends Principal> (opts: RecorderOptions): Interceptor<P> {
  const sink = new RecordSink(opts)
  return (next) => function record (req, handler) {
    next(req, new RecordingHandler(handler, req, sink))
  }
}

/** Metrics and the log line, with their children resolved once per label set. */
class RecordSink {
  private readonly children = new Map<string, CounterCell>()
  // Cells, not prom-client children: a child hashes its labels again on every call
  // (bench/micro/metric-cells.ts).
  private readonly timings = new Map<string, Timing>()
  // The request line is built from known-safe fields only (no headers, no secrets; error
  // text goes through scrubSecrets), so it skips the process-wide redaction paths, which cost
  // about ten times the rest of the line (bench/micro/recorder.ts, "Request log line").
  private readonly writeLine: ReturnType<typeof requestLineWriter>

  constructor (readonly opts: RecorderOptions) {
    this.writeLine = requestLineWriter(opts.log)
  }

  requestCounter (route: string, model: string, key: string, status: number): CounterCell {
    const id = `${route}\0${model}\0${key}\0${status}`
    let c = this.children.get(id)
    if (c === undefined) {
      c = counterCell(this.opts.metrics.requests, { route, model, key, status: String(status) })
      this.children.set(id, c)
    }
    return c
  }

  timing (route: string, model: string): Timing {
    const id = `${route}\0${model}`
    let t = this.timings.get(id)
    if (t === undefined) {
      t = { route, model, duration: histogramCell(this.opts.metrics.duration, { route, model }), ttfb: undefined }
      this.timings.set(id, t)
    }
    return t
  }

  record (req: GatewayRequest, head: ResponseHead | undefined, status: number, outcome: Recorded, usage: UsageSummary | undefined, bytes: number, error: GatewayError | undefined): void {
    const ms = performance.now() - req.startedAt
    const label = usage?.label ?? this.opts.modelLabel(req.model)
    this.requestCounter(req.route, label, req.principal.name, status).inc()
    const t = this.timing(req.route, label)
    t.duration.observe(ms / 1000)
    const ttfbMs = head?.ttfbMs
    // Made on first use: a route and model only refused never shows an empty TTFB series.
    if (ttfbMs !== undefined) (t.ttfb ??= histogramCell(this.opts.metrics.ttfb, { route: t.route, model: t.model })).observe(ttfbMs / 1000)
    const upstreamFailed = outcome === 'upstream_error' || outcome === 'upstream_timeout'
    if (upstreamFailed) this.opts.metrics.upstreamErrors.labels(req.route, outcome === 'upstream_error' ? 'error' : 'timeout').inc()
    const u = usage
    const line: RequestLine = {
      reqId: req.id,
      keyName: req.principal.name,
      method: req.method,
      route: req.route,
      model: req.model,
      status,
      outcome,
      stream: head?.kind === 'sse',
      ms: Math.round(ms * 10) / 10,
      ttfbMs: ttfbMs === undefined ? undefined : Math.round(ttfbMs * 10) / 10,
      bytes,
      upstreamRequestId: head?.upstreamRequestId,
      cache: head?.headers['x-gateway-cache'],
      tokens: u === undefined ? undefined : { input: u.inputTokens, cached: u.cachedInputTokens, output: u.outputTokens, reasoning: u.reasoningTokens },
      costUsd: u === undefined ? undefined : u.costNanos / NANOS_PER_USD,
      estimated: u?.estimated === true ? true : undefined,
      error: error === undefined ? undefined : scrubSecrets(error.message)
    }
    this.writeLine(upstreamFailed || status >= 500 ? 'warn' : 'info', line)
  }
}

/** Errors that mean the upstream failed (the rest are refusals by the gateway). */
const UPSTREAM_OUTCOMES: Partial<Record<GatewayError['code'], Recorded>> = {
  GW_ERR_UPSTREAM_UNAVAILABLE: 'upstream_error',
  GW_ERR_UPSTREAM_TIMEOUT: 'upstream_timeout',
  GW_ERR_UPSTREAM_BROKEN: 'upstream_error',
  GW_ERR_CLIENT_CLOSED: 'client_abort'
}

/**
 * Counts the bytes going out and notes whether the client left (it is the controller the
 * client side sees), then records once at the end.
 */
class RecordingHandler implements ResponseHandler, Controller {
  private ctrl: Controller | undefined
  private head: ResponseHead | undefined
  private bytes = 0
  private clientLeft = false

  constructor (private readonly inner: ResponseHandler, private readonly req: GatewayRequest, private readonly sink: RecordSink) {}

  get aborted (): boolean { return this.ctrl?.aborted ?? false }
  get paused (): boolean { return this.ctrl?.paused ?? false }
  pause (): void { this.ctrl?.pause() }
  resume (): void { this.ctrl?.resume() }
  abort (reason: Error): void {
    this.clientLeft = true
    this.ctrl?.abort(reason)
  }

  onRequestStart (controller: Controller): void {
    this.ctrl = controller
    this.inner.onRequestStart(this)
  }

  onResponseStart (_controller: Controller, head: ResponseHead): void {
    this.head = head
    if (head.body !== undefined) this.bytes = head.body.length
    this.inner.onResponseStart(this, head)
  }

  onResponseData (_controller: Controller, chunk: Buffer): void {
    this.bytes += chunk.length
    this.inner.onResponseData(this, chunk)
  }

  onResponseEnd (_controller: Controller, end: ResponseEnd): void {
    this.inner.onResponseEnd(this, end)
    // The answer may have gone on for others (coalesced followers) after this client left.
    const outcome = this.clientLeft && end.outcome === 'ok' ? 'client_abort' : end.outcome
    this.sink.record(this.req, this.head, this.head!.status, outcome, end.usage, this.bytes, undefined)
  }

  onResponseError (_controller: Controller, error: GatewayError): void {
    this.inner.onResponseError(this, error)
    const head = this.head
    const outcome = head !== undefined ? 'upstream_error' : UPSTREAM_OUTCOMES[error.code] ?? 'refused'
    this.sink.record(this.req, head, head?.status ?? error.status, outcome, undefined, this.bytes, error)
  }
}
