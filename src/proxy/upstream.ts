import { Pool, type Dispatcher } from 'undici'
import type { GatewayConfig } from '../config/schema.js'
import { gatewayError, type GatewayError } from '../errors.js'
import { BodyBuffer } from './body-buffer.js'
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
  /** A body meant to be buffered that grows past this is relayed as it comes instead. */
  readonly maxBufferedBytes: number
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
    maxBufferedBytes: config.MAX_BUFFERED_BYTES,
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
 * The cause of `GW_ERR_UPSTREAM_BROKEN`: how much of the answer had arrived when it broke
 * (metering estimates what it cost from it).
 */
export class BrokenAnswer extends Error {
  constructor (readonly bytesReceived: number, cause: unknown) {
    super('the upstream answer broke off', { cause })
  }
}

/** Why a body broke, for the client's 502: a table of the undici codes that mean it. */
const BROKEN_BODY: Record<string, string> = {
  UND_ERR_SOCKET: 'the connection closed before the end of the body',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'the body is shorter than its content-length',
  UND_ERR_BODY_TIMEOUT: 'the body stalled',
  ECONNRESET: 'the connection was reset mid-body'
}

function brokenError (err: Error, bytes: number, why?: string): GatewayError {
  const code = errorCode(err)
  return gatewayError('GW_ERR_UPSTREAM_BROKEN', [why ?? ((code !== undefined && BROKEN_BODY[code]) || 'the body broke off')], { cause: new BrokenAnswer(bytes, err) })
}

/**
 * The terminal of the request path: sends the request to `target` with undici's
 * `dispatch()` and drives `handler` from undici's handler calls (no body stream, no
 * promise per request).
 * - connection errors and the headers timeout → `onResponseError` (502 / 504) before any head;
 * - upstream 4xx/5xx → `onResponseStart` with that status, buffered;
 * - a body to buffer that is (or grows) larger than `maxBufferedBytes` goes on as
 *   `piped` from then on: memory stays bounded by about that limit;
 * - a buffered body that breaks → `onResponseError(GW_ERR_UPSTREAM_BROKEN)` (nothing of
 *   it went out yet, so the client gets a clear 502, never a truncated 200);
 * - informational answers (1xx) are skipped: the final one follows;
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
  private upstreamRequestId: string | undefined
  private buffered: BodyBuffer | undefined
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
    // 102 Processing, 103 Early Hints: not the answer, which follows on the same request.
    // (An unsolicited 100 Continue never gets here: undici closes the socket first.)
    if (statusCode < 200) return
    this.ttfbMs = performance.now() - this.request.startedAt
    const id = headers['x-request-id']
    this.upstreamRequestId = typeof id === 'string' ? id : undefined
    this.status = statusCode
    this.kind = bodyKind(statusCode, headers['content-type'])
    const out = clientResponseHeaders(headers)
    // The router (several upstreams) sets this itself; with one target the terminal does.
    out['x-gateway-upstream'] = this.target.name
    this.headers = out
    if (this.kind === 'buffered') {
      // Known to be too large already: relayed as it comes from the first byte.
      const length = Number(headers['content-length'])
      if (length > this.target.maxBufferedBytes) this.kind = 'piped'
      else {
        this.buffered = new BodyBuffer(Number.isSafeInteger(length) ? length : 0)
        return
      }
    }
    this.handler.onResponseStart(this, { status: statusCode, headers: out, kind: this.kind, ttfbMs: this.ttfbMs, upstreamRequestId: this.upstreamRequestId })
  }

  onResponseData (_controller: UndiciController, chunk: Buffer): void {
    const buffered = this.buffered
    if (buffered !== undefined) {
      if (buffered.length + chunk.length <= this.target.maxBufferedBytes) {
        buffered.push(chunk)
        return
      }
      this.unbuffer()
      if (this.done) return
    }
    this.handler.onResponseData(this, chunk)
  }

  /** A buffered body outgrew its bound: the head goes out as `piped`, then what arrived. */
  private unbuffer (): void {
    const kept = this.buffered!.body()
    this.buffered = undefined
    this.kind = 'piped'
    this.handler.onResponseStart(this, { status: this.status, headers: this.headers!, kind: 'piped', ttfbMs: this.ttfbMs, upstreamRequestId: this.upstreamRequestId })
    // A handler may have aborted on the head (a redirect, a retry): then nothing more goes.
    if (!this.done && kept.length > 0) this.handler.onResponseData(this, kept)
  }

  onResponseEnd (): void {
    if (this.done) return
    this.done = true
    if (this.buffered !== undefined) {
      const body = this.buffered.body()
      this.buffered = undefined
      this.handler.onResponseStart(this, { status: this.status, headers: this.headers!, kind: 'buffered', body, ttfbMs: this.ttfbMs, upstreamRequestId: this.upstreamRequestId })
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
      // undici refuses an unsolicited `100 Continue` this way: the request went and the
      // upstream began to answer, so it is a broken answer (not retried), not an unreachable one.
      const continued = errorCode(err) === 'UND_ERR_SOCKET' && err.message === 'bad response'
      this.handler.onResponseError(this, continued ? brokenError(err, 0, 'it sent an unexpected 100 Continue') : upstreamError(err, this.target.headersTimeoutMs))
      return
    }
    if (this.buffered !== undefined) {
      // Nothing of a buffered body went out yet: a clear 502 rather than a truncated 200.
      const bytes = this.buffered.length
      this.buffered = undefined
      this.handler.onResponseError(this, brokenError(err, bytes))
      return
    }
    this.handler.onResponseEnd(this, { outcome: errorCode(err) === 'UND_ERR_BODY_TIMEOUT' ? 'upstream_timeout' : 'upstream_error' })
  }
}
