import { Pool, type Dispatcher } from 'undici'
import type { GatewayConfig } from '../config/schema.js'
import { gatewayError } from '../errors.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import type { BodyKind, Controller, Dispatch, GatewayRequest, ResponseHandler } from './interceptor.js'
import { errorCode, upstreamError } from './upstream-errors.js'

/**
 * One upstream (CometAPI or any OpenAI-compatible API): the only place undici is
 * configured. One keep-alive Pool per origin; the base path (`/v1`) is kept apart so
 * client paths below `/v1` map onto it.
 */
export interface UpstreamTarget {
  readonly name: string
  /** Base path of the base URL without a trailing slash, e.g. `/v1`. */
  readonly basePath: string
  /** `Bearer <upstream key>`, or undefined when no key is configured. */
  readonly authorization: string | undefined
  readonly headersTimeoutMs: number
  readonly dispatcher: Dispatcher
  close (): Promise<void>
}

/** @example const target = createUpstreamTarget({ name: 'default', baseUrl: config.UPSTREAM_BASE_URL, apiKey: config.UPSTREAM_API_KEY }, config) */
export function createUpstreamTarget (opts: { name: string, baseUrl: string, apiKey: string | undefined }, config: GatewayConfig): UpstreamTarget {
  const url = new URL(opts.baseUrl)
  const pool = new Pool(url.origin, {
    connections: config.UPSTREAM_CONNECTIONS,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connectTimeout: config.UPSTREAM_CONNECT_TIMEOUT_MS,
    headersTimeout: config.UPSTREAM_TIMEOUT_MS,
    bodyTimeout: config.UPSTREAM_BODY_TIMEOUT_MS
  })
  return {
    name: opts.name,
    dispatcher: pool,
    basePath: url.pathname.replace(/\/+$/, ''),
    authorization: opts.apiKey !== undefined ? `Bearer ${opts.apiKey}` : undefined,
    headersTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
    close: () => pool.close()
  }
}

const EVENT_STREAM = 'text/event-stream'

/**
 * How an upstream answer travels: SSE and other streamed bodies chunk by chunk; JSON,
 * untyped bodies and every non-2xx answer buffered (so that interceptors can read them,
 * and a router can still retry an error before any byte went out).
 */
export function bodyKind (status: number, contentType: string | string[] | undefined): BodyKind {
  const type = typeof contentType === 'string' ? contentType : undefined
  if (status >= 300 || type === undefined || type.includes('json')) return 'buffered'
  return type.startsWith(EVENT_STREAM) ? 'sse' : 'piped'
}

/**
 * The terminal of the request path: sends the request to `target` with undici's
 * `dispatch()` and drives `handler` from undici's handler calls (no body stream, no
 * promise per request).
 * - connection errors and the headers timeout → `onResponseError` (502 / 504) before any head;
 * - upstream 4xx/5xx → `onResponseStart` with that status, buffered;
 * - `controller.abort()` aborts the upstream request.
 * @example const dispatch = compose(upstreamDispatch(target), recorder, limits)
 */
export function upstreamDispatch (target: UpstreamTarget): Dispatch {
  return function upstream (request, handler) {
    const call = new UpstreamCall(target, request, handler)
    handler.onRequestStart(call)
    if (call.aborted) {
      handler.onResponseError(call, gatewayError('GW_ERR_CLIENT_CLOSED'))
      return
    }
    if (target.authorization === undefined) {
      handler.onResponseError(call, gatewayError('GW_ERR_UPSTREAM_NOT_CONFIGURED'))
      return
    }
    target.dispatcher.dispatch({
      method: request.method as Dispatcher.HttpMethod,
      path: target.basePath + request.path,
      headers: upstreamRequestHeaders(request.headers, target.authorization, request.id),
      body: request.body
    }, call)
  }
}

type UndiciController = Dispatcher.DispatchController

/**
 * One upstream request: undici's handler on one side, the gateway's Controller on the
 * other (one object for both, so a request costs one allocation here).
 */
class UpstreamCall implements Dispatcher.DispatchHandler, Controller {
  aborted = false
  paused = false
  private ctrl: UndiciController | undefined
  private kind: BodyKind | undefined
  private status = 0
  private headers: Record<string, string | string[]> | undefined
  private ttfbMs = 0
  private chunks: Buffer[] | undefined
  private bytes = 0
  private done = false

  constructor (private readonly target: UpstreamTarget, private readonly request: GatewayRequest, private readonly handler: ResponseHandler) {}

  // Controller (the client's side).
  pause (): void {
    this.paused = true
    this.ctrl?.pause()
  }

  resume (): void {
    if (!this.paused) return
    this.paused = false
    this.ctrl?.resume()
  }

  abort (reason: Error): void {
    if (this.aborted) return
    this.aborted = true
    this.ctrl?.abort(reason)
  }

  // undici's handler.
  onRequestStart (controller: UndiciController): void {
    this.ctrl = controller
    if (this.aborted) controller.abort(new Error('the client left'))
    else if (this.paused) controller.pause()
  }

  onResponseStart (_controller: UndiciController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.ttfbMs = performance.now() - this.request.startedAt
    this.status = statusCode
    this.kind = bodyKind(statusCode, headers['content-type'])
    const out = clientResponseHeaders(headers)
    // The router (several upstreams) sets this itself; with one target the terminal does.
    out['x-gateway-upstream'] = this.target.name
    this.headers = out
    if (this.kind === 'buffered') {
      this.chunks = []
      return
    }
    this.handler.onResponseStart(this, { status: statusCode, headers: out, kind: this.kind, ttfbMs: this.ttfbMs })
  }

  onResponseData (_controller: UndiciController, chunk: Buffer): void {
    if (this.chunks !== undefined) {
      this.chunks.push(chunk)
      this.bytes += chunk.length
      return
    }
    this.handler.onResponseData(this, chunk)
  }

  onResponseEnd (): void {
    if (this.done) return
    this.done = true
    if (this.chunks !== undefined) {
      const c = this.chunks
      const body = c.length === 1 ? c[0]! : Buffer.concat(c, this.bytes)
      this.handler.onResponseStart(this, { status: this.status, headers: this.headers!, kind: 'buffered', body, ttfbMs: this.ttfbMs })
    }
    this.handler.onResponseEnd(this, { outcome: 'ok' })
  }

  onResponseError (_controller: UndiciController, err: Error): void {
    if (this.done) return
    this.done = true
    if (this.aborted) {
      if (this.kind === undefined || this.kind === 'buffered') this.handler.onResponseError(this, gatewayError('GW_ERR_CLIENT_CLOSED'))
      else this.handler.onResponseEnd(this, { outcome: 'client_abort' })
      return
    }
    if (this.kind === undefined) {
      this.handler.onResponseError(this, upstreamError(err, this.target.headersTimeoutMs))
      return
    }
    if (this.chunks !== undefined) {
      // A buffered body that broke: the client gets what arrived, and the outcome says so.
      const body = Buffer.concat(this.chunks, this.bytes)
      this.handler.onResponseStart(this, { status: this.status, headers: this.headers!, kind: 'buffered', body, ttfbMs: this.ttfbMs })
    }
    this.handler.onResponseEnd(this, { outcome: errorCode(err) === 'UND_ERR_BODY_TIMEOUT' ? 'upstream_timeout' : 'upstream_error' })
  }
}
