import type { KeyPrincipal } from '../auth/principal.js'
import type { KeyRecord } from '../auth/key-record.js'
import { GatewayError, gatewayError } from '../errors.js'
import type { Feature, FeatureContext } from '../feature.js'
import type { SpendReader } from '../metering/spend.js'
import { ForwardingHandler, refuse, type Controller, type Interceptor, type ResponseEnd, type ResponseHandler, type ResponseHead } from '../proxy/interceptor.js'
import { createBudgetCheck } from './budget.js'
import { createFailMode } from './fail-mode.js'
import { rateLimitError, setLimitHeaders } from './headers.js'
import { keyLimits, type KeyLimits } from './key-limits.js'
import { hasLimits, type LimitSpec, type RateLimiter } from './limiter.js'
import { createMemoryLimiter } from './memory-limiter.js'
import { createRedisLimiter } from './redis-limiter.js'

export interface RateLimitOptions {
  /** Epoch ms (tests pass a fake clock). */
  readonly clock?: () => number
  /** Concurrency lease lifetime without renewal, ms (Redis backend). */
  readonly leaseMs?: number
}

/**
 * The limits interceptor: per-key budget (against metering's spend ledger), then RPM, TPM
 * and concurrency in one limiter call; OpenAI's `x-ratelimit-*` headers on every answer of
 * a limited key, refusals included; a 429 when a limit refuses. When the answer is over
 * (however it ended) its handler debits the answer's tokens from TPM and releases the
 * concurrency lease.
 *
 * Place: after access, outside metering and the cache, so a cache hit counts as a
 * request for RPM and concurrency (rpm counts cache hits); a hit debits no tokens
 * (`x-gateway-cache: HIT` in the head), since no tokens were used upstream.
 *
 * Store failures (Redis down or slow, spend ledger unreadable) follow LIMITS_FAIL_MODE:
 * `open` serves without limits (logged once per outage, counted in
 * `gateway_limiter_errors_total`), `closed` answers 503 `limits_unavailable`.
 * @example features.push(createRateLimitFeature(ctx, metering.spend))
 */
export function createRateLimitFeature (ctx: FeatureContext, spend?: SpendReader, options: RateLimitOptions = {}): Feature {
  const { config, log, metrics } = ctx
  const clock = options.clock ?? Date.now
  const limiter: RateLimiter = ctx.redis !== undefined
    ? createRedisLimiter(ctx.redis, {
      clock,
      leaseMs: options.leaseMs,
      timeoutMs: config.REDIS_COMMAND_TIMEOUT_MS + 100,
      onRenewError: () => metrics.limiterErrors.inc()
    })
    : createMemoryLimiter(clock)
  const failMode = createFailMode(config.LIMITS_FAIL_MODE, log, metrics)
  const checkBudget = createBudgetCheck({ spend, clock, failMode, metrics, log })

  const settle = (key: KeyRecord, spec: LimitSpec, lease: string | undefined, tokens: number): void => {
    limiter.settle(key.id, spec, { lease, tokens }).catch((err: unknown) => {
      // The lease expires on its own; these tokens go undebited.
      failMode.failed(err, 'settle', false)
    })
  }

  /** Admits or refuses; undefined = serve without limits (none apply, or the store failed open). */
  const admit = async (key: KeyRecord, { spec, budget }: KeyLimits): Promise<Admitted | undefined> => {
    if (budget !== undefined) await checkBudget(key, budget)
    if (!hasLimits(spec)) return undefined
    let d
    try {
      d = await limiter.acquire(key.id, spec)
    } catch (err) {
      failMode.failed(err, 'acquire', true)
      return undefined
    }
    failMode.answered()
    const headers: Record<string, string> = {}
    setLimitHeaders(headers, d)
    if (!d.allowed) {
      metrics.rateLimited.inc({ key: key.name, limit: d.limit })
      const err = rateLimitError(d, spec)
      Object.assign(err.headers, headers)
      throw err
    }
    return { spec, lease: d.lease, headers }
  }

  const interceptor: Interceptor<KeyPrincipal> = (next) => function limits (req, handler) {
    const key = req.principal.key
    const kl = keyLimits(key, config.limits.defaults)
    // Keys without limits or budget never touch a store, and cost no promise either.
    if (kl.budget === undefined && !hasLimits(kl.spec)) return next(req, handler)
    admit(key, kl).then((a) => {
      next(req, a === undefined ? handler : new LimitsHandler(handler, a, (tokens) => { settle(key, a.spec, a.lease, tokens) }))
    }, (err: unknown) => {
      refuse(handler, err instanceof GatewayError ? err : gatewayError('GW_ERR_INTERNAL', [], { cause: err }))
    })
  }

  return {
    name: 'limits',
    interceptor,
    close: () => limiter.close()
  }
}

/** What an admitted request holds until its answer is over. */
interface Admitted {
  readonly spec: LimitSpec
  readonly lease: string | undefined
  readonly headers: Readonly<Record<string, string>>
}

/** Adds the limit headers to the answer and settles once when it is over. */
class LimitsHandler extends ForwardingHandler {
  private hit = false
  private settled = false

  constructor (inner: ResponseHandler, private readonly admitted: Admitted, private readonly onSettle: (tokens: number) => void) {
    super(inner)
  }

  override onResponseStart (controller: Controller, head: ResponseHead): void {
    this.hit = head.headers['x-gateway-cache'] === 'HIT'
    Object.assign(head.headers, this.admitted.headers)
    this.inner.onResponseStart(controller, head)
  }

  override onResponseEnd (controller: Controller, end: ResponseEnd): void {
    const u = end.usage
    this.settle(this.hit || u === undefined ? 0 : u.inputTokens + u.outputTokens)
    this.inner.onResponseEnd(controller, end)
  }

  override onResponseError (controller: Controller, error: GatewayError): void {
    Object.assign(error.headers, this.admitted.headers)
    this.settle(0)
    this.inner.onResponseError(controller, error)
  }

  private settle (tokens: number): void {
    if (this.settled) return
    this.settled = true
    this.onSettle(tokens)
  }
}
