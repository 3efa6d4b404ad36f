import type { Feature, FeatureContext } from '../feature.js'
import type { Exchange, Stage } from '../proxy/exchange.js'
import type { SpendReader } from '../metering/spend.js'
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

/** What an admitted exchange holds until its `after`. */
interface Held {
  readonly spec: LimitSpec
  readonly lease: string | undefined
}

/**
 * The limits stage: per-key budget (against metering's spend ledger), then RPM, TPM and
 * concurrency in one limiter call; OpenAI's `x-ratelimit-*` headers on every answer of a
 * limited key; a 429 when a limit refuses. Its `after` debits the answer's tokens from
 * TPM and releases the concurrency lease, however the exchange ended.
 *
 * Order: after the keys feature (it needs `ex.key`) and before the cache stage, so a
 * cache hit counts as a request for RPM and concurrency (CONTRACT: rpm counts cache
 * hits); a hit debits no tokens, since no tokens were used upstream.
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
  const held = new WeakMap<Exchange, Held>()

  const limit = async (ex: Exchange, { spec, budget }: KeyLimits): Promise<void> => {
    if (budget !== undefined) await checkBudget(ex.key, budget)
    if (!hasLimits(spec)) return
    let d
    try {
      d = await limiter.acquire(ex.key.id, spec)
    } catch (err) {
      failMode.failed(err, 'acquire', true)
      return
    }
    failMode.answered()
    setLimitHeaders(ex.responseHeaders, d)
    if (!d.allowed) {
      metrics.rateLimited.inc({ key: ex.key.name, limit: d.limit })
      throw rateLimitError(d, spec)
    }
    held.set(ex, { spec, lease: d.lease })
  }

  const before = (ex: Exchange): Promise<void> | undefined => {
    const limits = keyLimits(ex.key, config.limits.defaults)
    // Keys without limits or budget never touch a store, and cost no promise either.
    if (limits.budget === undefined && !hasLimits(limits.spec)) return
    return limit(ex, limits)
  }

  const settle = async (ex: Exchange, h: Held): Promise<void> => {
    const u = ex.usage
    const tokens = ex.cache === 'HIT' || u === undefined ? 0 : u.inputTokens + u.outputTokens
    try {
      await limiter.settle(ex.key.id, h.spec, { lease: h.lease, tokens })
    } catch (err) {
      // The lease expires on its own; these tokens go undebited.
      failMode.failed(err, 'settle', false)
    }
  }

  const after = (ex: Exchange): Promise<void> | undefined => {
    const h = held.get(ex)
    if (h === undefined) return
    held.delete(ex)
    return settle(ex, h)
  }

  const stage: Stage = { name: 'limits', before, after }
  return {
    name: 'limits',
    stage,
    close: () => limiter.close()
  }
}
