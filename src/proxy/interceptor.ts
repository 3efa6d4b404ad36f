import type { IncomingHttpHeaders } from 'node:http'
import type { GatewayError } from '../errors.js'

/**
 * The request path as a chain of interceptors over one handler protocol, in the way
 * undici composes its dispatcher: an interceptor takes the next `Dispatch` and returns
 * its own. It may refuse (call `onResponseError` without calling next), answer itself
 * (a cache hit: drive the handler with a `LocalController`), change the request (give
 * next a new immutable request object), or wrap the handler to see and change the
 * answer on its way out. Per-request state lives in the interceptor's own handler or
 * closure: nothing is shared between features but the messages of this protocol.
 *
 * Why the handler protocol and not an `await next()` onion: a streamed answer is a
 * sequence of chunks that must reach the client the moment they arrive, with
 * backpressure and abort going the other way. Handlers see each chunk as it passes
 * (the metering tap, the cache's recording) without an async hop per chunk, and the
 * controller carries pause/resume/abort from the client's socket to the upstream's.
 */

/** Who is calling. `proxy/` knows only this; the feature that authenticates adds the rest. */
export interface Principal {
  readonly id: string
  readonly name: string
  readonly teamId: string | null
  readonly teamName: string | null
}

/** One client request below `/v1`, canonical and immutable: to change it, pass on a copy. */
export interface GatewayRequest<P extends Principal = Principal> {
  readonly id: string
  readonly method: string
  /** Route template for labels and logs: `/v1/chat/completions`, `/v1/responses/{id}`, … */
  readonly route: string
  /** Canonical path below the upstream base URL, query included: `/chat/completions?x=1`. */
  readonly path: string
  readonly headers: IncomingHttpHeaders
  /** `performance.now()` at arrival. */
  readonly startedAt: number
  readonly principal: P
  /** The bytes that go upstream (the client's, unless an interceptor passed on a new body). */
  readonly body: Buffer | undefined
  /** The parsed JSON object body, when there is one. Never mutated. */
  readonly json: Readonly<Record<string, unknown>> | undefined
  /** `model` of the body (JSON or multipart field), as the client wrote it. */
  readonly model: string | undefined
  /** The client asked for a stream (`"stream": true`). */
  readonly stream: boolean
}

/**
 * How an answer travels:
 * - `sse`: `text/event-stream`, chunk by chunk as it arrives;
 * - `piped`: any other streamed body (audio, files), chunk by chunk;
 * - `buffered`: JSON and errors, whole, in `head.body`; no `onResponseData` follows.
 *   Interceptors may read or replace `body` and add headers before passing the head on.
 */
export type BodyKind = 'sse' | 'piped' | 'buffered'

export interface ResponseHead {
  readonly status: number
  /** Lower-case names. An interceptor adds its own before passing the head on. */
  readonly headers: Record<string, string | string[]>
  readonly kind: BodyKind
  /** The whole body of a `buffered` answer. */
  readonly body?: Buffer
  /**
   * Milliseconds from the request's arrival to the upstream's response headers, set by
   * the terminal; absent on answers the gateway made itself (refusals, cache hits).
   */
  readonly ttfbMs?: number
}

export type Outcome =
  | 'ok' // the whole answer reached the client
  | 'client_abort' // the client left before the end
  | 'upstream_error' // the upstream broke mid-answer
  | 'upstream_timeout' // the body stalled

/** A short summary of metered usage (metering owns the details). */
export interface UsageSummary {
  readonly model: string
  /** Label value for `model` in metrics: a priced model name or `other`. */
  readonly label: string
  readonly inputTokens: number
  readonly cachedInputTokens: number
  readonly outputTokens: number
  readonly reasoningTokens: number
  /** Nano-dollars (1e-9 USD), an exact integer. 0 for a cache hit. */
  readonly costNanos: number
  readonly estimated: boolean
  readonly priced: boolean
}

/**
 * The end of an answer, passed outwards. Each optional field has exactly one writer:
 * `usage` is metering's (the outer interceptors, limits and the recorder, read it).
 */
export interface ResponseEnd {
  readonly outcome: Outcome
  readonly usage?: UsageSummary
}

/** Carries backpressure and abort from the client's side to whoever produces the answer. */
export interface Controller {
  pause (): void
  resume (): void
  /** The client left (or an interceptor gave up): stop producing. */
  abort (reason: Error): void
  readonly aborted: boolean
  readonly paused: boolean
}

/**
 * Receives one answer. Calls come in this order: `onRequestStart` once; then either
 * `onResponseError` (refused or failed before any byte) or `onResponseStart`, any number
 * of `onResponseData` (not for `buffered`), and one of `onResponseEnd` /
 * `onResponseError` (broken after the head went out). Must not throw.
 *
 * A producer (the terminal, a cache hit) that is aborted ends the answer itself: with
 * `onResponseEnd({ outcome: 'client_abort' })` once the head went out, else with
 * `onResponseError(GW_ERR_CLIENT_CLOSED)`. A body that breaks after the head ends with
 * `onResponseEnd` and outcome `upstream_error` / `upstream_timeout`.
 * An interceptor may add its headers to `error.headers` on the way out, as it adds them
 * to `head.headers` (both objects belong to this one answer).
 */
export interface ResponseHandler {
  onRequestStart (controller: Controller): void
  onResponseStart (controller: Controller, head: ResponseHead): void
  onResponseData (controller: Controller, chunk: Buffer): void
  onResponseEnd (controller: Controller, end: ResponseEnd): void
  onResponseError (controller: Controller, error: GatewayError): void
}

export type Dispatch<P extends Principal = Principal> = (request: GatewayRequest<P>, handler: ResponseHandler) => void
export type Interceptor<P extends Principal = Principal> = (next: Dispatch<P>) => Dispatch<P>

/**
 * The dispatch that runs `interceptors` outermost first, then `terminal`. The one place
 * the order of features is written is the call of this function.
 * @example const dispatch = compose(upstreamDispatch, recorder, limits, metering, cache)
 */
export function compose<P extends Principal> (terminal: Dispatch<P>, ...interceptors: ReadonlyArray<Interceptor<P>>): Dispatch<P> {
  let dispatch = terminal
  for (let i = interceptors.length - 1; i >= 0; i--) dispatch = interceptors[i]!(dispatch)
  return dispatch
}

/**
 * A handler that forwards every call to `inner`: extend it and override what the
 * interceptor needs to see (undici's DecoratorHandler).
 */
export class ForwardingHandler implements ResponseHandler {
  constructor (protected readonly inner: ResponseHandler) {}
  onRequestStart (controller: Controller): void { this.inner.onRequestStart(controller) }
  onResponseStart (controller: Controller, head: ResponseHead): void { this.inner.onResponseStart(controller, head) }
  onResponseData (controller: Controller, chunk: Buffer): void { this.inner.onResponseData(controller, chunk) }
  onResponseEnd (controller: Controller, end: ResponseEnd): void { this.inner.onResponseEnd(controller, end) }
  onResponseError (controller: Controller, error: GatewayError): void { this.inner.onResponseError(controller, error) }
}

/** The controller of an answer an interceptor produces itself (a refusal, a cache hit). */
export class LocalController implements Controller {
  aborted = false
  paused = false
  private readonly onResume: (() => void) | undefined
  private readonly onAbort: ((reason: Error) => void) | undefined

  constructor (hooks: { resume?: () => void, abort?: (reason: Error) => void } = {}) {
    this.onResume = hooks.resume
    this.onAbort = hooks.abort
  }

  pause (): void { this.paused = true }
  resume (): void {
    if (!this.paused) return
    this.paused = false
    this.onResume?.()
  }

  abort (reason: Error): void {
    if (this.aborted) return
    this.aborted = true
    this.onAbort?.(reason)
  }
}

/** Refuses a request from inside an interceptor: the handler gets the error and nothing else. */
export function refuse (handler: ResponseHandler, error: GatewayError): void {
  const controller = new LocalController()
  handler.onRequestStart(controller)
  handler.onResponseError(controller, error)
}
