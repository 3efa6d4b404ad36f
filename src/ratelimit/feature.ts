import type { Feature, FeatureContext } from '../feature.js'
import type { SpendLedger } from '../metering/ledger.js'
import { createPriceTable } from '../metering/pricing.js'
import type { Admission } from './admission.js'
import { createMemoryAdmission, type SyncSpend } from './admission-memory.js'
import { createRedisAdmission } from './admission-redis.js'
import { createFailMode } from './fail-mode.js'
import { limitsInterceptor } from './limits-interceptor.js'
import { outputCap } from './reservation.js'

export interface RateLimitOptions {
  /** Epoch ms (tests pass a fake clock). */
  readonly clock?: () => number
  /** Lease lifetime of an open request without renewal, ms (Redis backend). */
  readonly leaseMs?: number
}

/**
 * Limits and budgets: the limits interceptor (see limits-interceptor.ts) over one
 * admission backend chosen at start-up: Redis when configured (every instance shares
 * the limits, reservations and spend), else the embedded one, whose budgets read the
 * embedded ledger.
 *
 * Place: after access, outside metering and the cache, so a cache hit counts as a
 * request for rpm and concurrency (it debits no tokens and costs nothing), and so that
 * metering has recorded an answer's usage before limits settles it.
 * @example features.push(createRateLimitFeature(ctx, metering.ledger))
 */
export function createRateLimitFeature (ctx: FeatureContext, ledger?: SpendLedger, options: RateLimitOptions = {}): Feature {
  const { config, log, metrics } = ctx
  const clock = options.clock ?? Date.now
  let warned = false
  // Without a synchronous ledger (none given) budgets cannot be enforced: say so once.
  const noSpend: SyncSpend = () => {
    if (!warned) log.warn('budgets are not enforced: no spend ledger')
    warned = true
    return 0
  }
  const admission: Admission = ctx.redis !== undefined
    ? createRedisAdmission(ctx.redis, {
      clock,
      leaseMs: options.leaseMs,
      timeoutMs: config.REDIS_COMMAND_TIMEOUT_MS + 100,
      onRenewError: () => metrics.limiterErrors.inc()
    })
    : createMemoryAdmission(ledger?.spentNow ?? noSpend, clock)
  const interceptor = limitsInterceptor({
    admission,
    ledger,
    prices: createPriceTable(config.pricing, config.aliases),
    outputCap,
    reserveOutput: config.RESERVE_OUTPUT_TOKENS,
    defaults: config.limits.defaults,
    failMode: createFailMode(config.LIMITS_FAIL_MODE, log, metrics),
    metrics,
    log
  })
  return {
    name: 'limits',
    interceptor,
    close: () => admission.close()
  }
}
