import { gatewayError, type GatewayError } from '../errors.js'
import type { Metrics } from '../metrics/metrics.js'
import type { Controller, Dispatch, GatewayRequest, ResponseEnd, ResponseHandler, ResponseHead } from '../proxy/interceptor.js'
import { chooseUpstream, serves, type Candidate } from './choice.js'
import { errorRetryReason, MAX_RETRY_AFTER_MS, sameUpstreamWaitMs, statusRetryReason, type RetryReason } from './retry-policy.js'

/** One upstream the router may send attempts to: its choice data, health, and terminal dispatch. */
export interface RoutedUpstream extends Candidate {
  readonly name: string
  /** Sends one attempt to this upstream (the terminal: undici to its base URL, with its key). */
  readonly dispatch: Dispatch
}

export interface RouterOptions {
  /** Further attempts after the first. */
  readonly retries: number
  readonly metrics?: Pick<Metrics, 'upstreamRequests' | 'upstreamRetries'>
  /** Milliseconds, for cooldowns and HTTP-date `retry-after` (default Date.now). */
  readonly now?: () => number
  /** In [0, 1), for the weighted choice (default Math.random). */
  readonly random?: () => number
}

/** The `outcome` label of the attempts metric. */
type AttemptOutcome = 'ok' | 'client_error' | 'rate_limited' | 'server_error' | 'unavailable' | 'timeout' | 'aborted' | 'error'

function statusOutcome (status: number): AttemptOutcome {
  if (status < 400) return 'ok'
  if (status === 429) return 'rate_limited'
  return status >= 500 ? 'server_error' : 'client_error'
}

/**
 * The innermost dispatch: sends each request to one of `upstreams` and owns its attempts.
 * The handler above sees one answer and one controller whatever happens below:
 * - the upstream is chosen by weight among the healthy ones that serve the model;
 * - a failed attempt (connection error, no headers in time, 429, 500, 502, 503, 504) is
 *   retried up to `retries` more times, on another upstream when there is one, as long as
 *   nothing of the answer went out; nothing of a failed attempt is ever passed on;
 * - a `retry-after` up to 2 s is waited for before trying the same upstream again; a
 *   longer one (or `x-should-retry: false`) takes that upstream out of this request's choice;
 * - every answer carries `x-gateway-upstream`, and a final error after retries carries
 *   `x-should-retry: false` (the client's SDK need not retry what the gateway just did).
 * Once `onResponseStart` was passed on, the rest of that attempt is relayed as it comes.
 * @example const dispatch = compose(createUpstreamRouter(upstreams, { retries: 2, metrics }), recorder, metering)
 */
export function createUpstreamRouter (upstreams: readonly RoutedUpstream[], options: RouterOptions): Dispatch {
  const ctx: RouterContext = {
    upstreams,
    retries: options.retries,
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
    meters: new AttemptMeters(options.metrics)
  }
  return function upstreamRouter (request, handler) {
    new RoutedRequest(ctx, request, handler).start()
  }
}

interface RouterContext {
  readonly upstreams: readonly RoutedUpstream[]
  readonly retries: number
  readonly now: () => number
  readonly random: () => number
  readonly meters: AttemptMeters
}

/**
 * One client request across its attempts. It is the stable controller the handler above
 * holds: pause, resume and abort go to whichever attempt is current.
 */
class RoutedRequest implements Controller {
  aborted = false
  paused = false
  /** Whether the current attempt's head went to the handler: from then on, no retry. */
  forwarded = false
  readonly tried: RoutedUpstream[] = []
  private excluded: Set<RoutedUpstream> | undefined
  private current: Controller | undefined
  private abortReason: Error | undefined
  private timer: NodeJS.Timeout | undefined

  constructor (
    readonly ctx: RouterContext,
    readonly request: GatewayRequest,
    readonly handler: ResponseHandler
  ) {}

  start (): void {
    this.handler.onRequestStart(this)
    if (this.aborted) {
      this.handler.onResponseError(this, abortedError(this.abortReason))
      return
    }
    const first = this.choose()
    if (first !== undefined) this.attempt(first)
    else this.handler.onResponseError(this, this.noUpstreamError())
  }

  pause (): void {
    this.paused = true
    this.current?.pause()
  }

  resume (): void {
    this.paused = false
    this.current?.resume()
  }

  abort (reason: Error): void {
    if (this.aborted) return
    this.aborted = true
    this.abortReason = reason
    if (this.timer !== undefined) {
      // Between two attempts: nothing is out to abort, so the answer ends here.
      clearTimeout(this.timer)
      this.timer = undefined
      this.handler.onResponseError(this, abortedError(reason))
      return
    }
    this.current?.abort(reason)
  }

  /** Called by an attempt as it starts. */
  attached (controller: Controller): void {
    this.current = controller
    if (this.aborted) controller.abort(this.abortReason!)
    else if (this.paused) controller.pause()
  }

  /**
   * After a failed attempt on `failed`: the next upstream and how long to wait first, or
   * undefined when this failure is the client's answer.
   */
  retryPlan (failed: RoutedUpstream, reason: RetryReason, askedWaitMs: number): { next: RoutedUpstream, waitMs: number } | undefined {
    if (this.aborted || this.tried.length > this.ctx.retries) return undefined
    if (askedWaitMs > MAX_RETRY_AFTER_MS) (this.excluded ??= new Set()).add(failed)
    const next = this.choose()
    if (next === undefined) return undefined
    this.ctx.meters.retried(failed.name, reason)
    // Another upstream goes at once; the same one again after what it asked for, or a short pause.
    return { next, waitMs: next !== failed ? 0 : askedWaitMs > 0 ? askedWaitMs : SAME_UPSTREAM_PAUSE_MS }
  }

  /** Drops the current attempt and starts the next one after `waitMs`. */
  retry (next: RoutedUpstream, waitMs: number): void {
    this.current = undefined
    // Always through a timer: a new attempt never starts inside the failed one's callback.
    this.timer = setTimeout(() => {
      this.timer = undefined
      // While it waited, other requests may have put `next` in cooldown: choose again then.
      this.attempt(next.health.available(this.ctx.now()) ? next : this.choose() ?? next)
    }, waitMs)
  }

  /** The head goes to the handler, named after its upstream. */
  forwardHead (upstream: RoutedUpstream, head: ResponseHead): void {
    this.forwarded = true
    head.headers['x-gateway-upstream'] = upstream.name
    if (head.status >= 400 && this.tried.length > 1) head.headers['x-should-retry'] = 'false'
    this.handler.onResponseStart(this, head)
  }

  /** The final error, named after the upstream that gave it. */
  forwardError (upstream: RoutedUpstream, error: GatewayError): void {
    error.headers['x-gateway-upstream'] = upstream.name
    if (this.tried.length > 1) error.headers['x-should-retry'] = 'false'
    this.handler.onResponseError(this, error)
  }

  private attempt (upstream: RoutedUpstream): void {
    const probe = upstream.health.begin(this.ctx.now())
    this.tried.push(upstream)
    upstream.dispatch(this.request, new Attempt(this, upstream, probe))
  }

  private choose (): RoutedUpstream | undefined {
    return chooseUpstream(this.ctx.upstreams, {
      model: this.request.model,
      tried: this.tried,
      excluded: this.excluded ?? EMPTY,
      now: this.ctx.now(),
      random: this.ctx.random
    })
  }

  /** No upstream for a first attempt: none serves the model, or all that do are cooling down. */
  private noUpstreamError (): GatewayError {
    const model = this.request.model
    const serving = this.ctx.upstreams.filter((u) => serves(u, model))
    if (serving.length === 0) return gatewayError('GW_ERR_MODEL_NOT_SERVED', [model ?? ''], { param: 'model' })
    const now = this.ctx.now()
    const waitMs = Math.min(...serving.map((u) => u.health.waitMs(now)))
    const seconds = Number.isFinite(waitMs) ? Math.max(1, Math.ceil(waitMs / 1000)) : 1
    return gatewayError('GW_ERR_UPSTREAM_UNAVAILABLE', ['every upstream for this model is cooling down after failures'], { headers: { 'retry-after': String(seconds) } })
  }
}

const EMPTY: ReadonlySet<RoutedUpstream> = new Set()

/** An immediate retry on the same upstream mostly meets the same blip: wait this long first. */
const SAME_UPSTREAM_PAUSE_MS = 100

/** The answer of a request whose client left before any attempt answered. */
function abortedError (reason: Error | undefined): GatewayError {
  return gatewayError('GW_ERR_CLIENT_CLOSED', [], { cause: reason })
}

/**
 * The handler of one attempt. Until its head is passed on it may be dropped for a retry;
 * a dropped attempt's later calls are ignored (`dead`), so nothing of it reaches the client.
 */
class Attempt implements ResponseHandler {
  private dead = false

  constructor (
    private readonly route: RoutedRequest,
    private readonly upstream: RoutedUpstream,
    private readonly probe: boolean
  ) {}

  onRequestStart (controller: Controller): void {
    if (!this.dead) this.route.attached(controller)
  }

  onResponseStart (controller: Controller, head: ResponseHead): void {
    if (this.dead) return
    const { route, upstream } = this
    const now = route.ctx.now()
    const reason = statusRetryReason(head.status)
    route.ctx.meters.attempt(upstream.name, statusOutcome(head.status))
    if (reason === undefined) {
      upstream.health.succeed()
    } else {
      upstream.health.fail(now, this.probe)
      const plan = route.retryPlan(upstream, reason, sameUpstreamWaitMs(head.headers, now))
      if (plan !== undefined) {
        this.dead = true
        // A streamed error body would keep the connection busy: stop it. A buffered one is whole already.
        if (head.kind !== 'buffered') controller.abort(new Error('retrying on another upstream'))
        route.retry(plan.next, plan.waitMs)
        return
      }
    }
    route.forwardHead(upstream, head)
  }

  onResponseData (_controller: Controller, chunk: Buffer): void {
    if (!this.dead) this.route.handler.onResponseData(this.route, chunk)
  }

  onResponseEnd (_controller: Controller, end: ResponseEnd): void {
    if (!this.dead) this.route.handler.onResponseEnd(this.route, end)
  }

  onResponseError (_controller: Controller, error: GatewayError): void {
    if (this.dead) return
    const { route, upstream } = this
    if (route.forwarded) {
      // Broken after the head went out: the client has bytes of it, so it cannot be retried.
      route.handler.onResponseError(route, error)
      return
    }
    const reason = route.aborted ? undefined : errorRetryReason(error.code)
    route.ctx.meters.attempt(upstream.name, route.aborted ? 'aborted' : reason === undefined ? 'error' : reason === 'timeout' ? 'timeout' : 'unavailable')
    if (reason === undefined) {
      // The client left, or an error no other upstream would fix (a redirect): no verdict on health.
      upstream.health.release(this.probe)
    } else {
      upstream.health.fail(route.ctx.now(), this.probe)
      const plan = route.retryPlan(upstream, reason, 0)
      if (plan !== undefined) {
        this.dead = true
        route.retry(plan.next, plan.waitMs)
        return
      }
    }
    route.forwardError(upstream, error)
  }
}

/** Counter children resolved once per upstream × label, not per attempt. */
class AttemptMeters {
  private readonly children = new Map<string, { inc (): void }>()

  constructor (private readonly metrics: RouterOptions['metrics']) {}

  attempt (upstream: string, outcome: AttemptOutcome): void {
    if (this.metrics === undefined) return
    this.child('a', upstream, outcome, this.metrics.upstreamRequests).inc()
  }

  retried (upstream: string, reason: RetryReason): void {
    if (this.metrics === undefined) return
    this.child('r', upstream, reason, this.metrics.upstreamRetries).inc()
  }

  private child (kind: string, upstream: string, label: string, counter: { labels (a: string, b: string): { inc (): void } }): { inc (): void } {
    const id = kind + '\0' + upstream + '\0' + label
    let c = this.children.get(id)
    if (c === undefined) {
      c = counter.labels(upstream, label)
      this.children.set(id, c)
    }
    return c
  }
}
