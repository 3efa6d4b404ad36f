import { join } from 'node:path'
import type { Feature, FeatureContext } from '../feature.js'
import { openJournal } from './journal.js'
import { BackgroundBilling, redisBackgroundTracker, sqliteBackgroundTracker } from './background.js'
import { bufferedLedger, type LedgerStore, type SpendLedger } from './ledger.js'
import { redisLedgerStore } from './ledger-redis.js'
import { sqliteLedgerStore } from './ledger-sqlite.js'
import { usageMeters } from './meters.js'
import { createPriceTable, type PriceTable } from './pricing.js'
import type { UsageRecord } from './record.js'
import type { SpendReader } from './spend.js'
import { meteringInterceptor, summarize, usageRecord } from './interceptor.js'
import type { GatewayRequest, UsageSummary } from '../proxy/interceptor.js'
import type { KeyPrincipal } from '../auth/principal.js'
import type { TokenUsage } from './usage.js'
import { usageRoutes, type TeamNames } from './usage-routes.js'

export interface MeteringFeature extends Feature {
  /** Budgets read spend here (stored plus still buffered in this process). */
  readonly spend: SpendReader
  /** The ledger itself (tests, the usage API). */
  readonly ledger: SpendLedger
  /** The metrics label of a requested model: its pricing entry, or `other`. */
  modelLabel (model: string | undefined): string
  /** The price table (batch billing reads batch rates from it). */
  readonly prices: PriceTable
  /** Records usage metered outside the interceptor (a batch's results read back): ledger and meters. */
  record (record: UsageRecord): void
  /**
   * Meters tokens reported outside an HTTP answer (a Realtime `response.done`): one
   * record, priced like any other, billed to the request's key.
   */
  meterTokens (req: GatewayRequest<KeyPrincipal>, model: string | undefined, tokens: TokenUsage): UsageSummary
}

/**
 * Token and cost metering: the pricing table, the metering interceptor, the spend ledger
 * (Redis when configured, so every instance reads the same numbers; else SQLite) and
 * `GET /admin/usage`. Every record goes to the local journal under DATA_DIR first (with
 * Redis too), so a killed process loses none: the next start replays what the store
 * lacks. Closing flushes buffered spend.
 * @example const metering = createMeteringFeature(ctx); const limits = createRateLimitFeature(ctx, metering.ledger)
 */
export function createMeteringFeature (ctx: FeatureContext, options: { flushMs?: number, teamName?: TeamNames } = {}): MeteringFeature {
  const store = ledgerStore(ctx)
  let lastError = 0
  const journal = openJournal(join(ctx.config.DATA_DIR, 'journal'), (err) => {
    const now = Date.now()
    if (now - lastError > 10_000) ctx.log.error({ err: (err as Error).message }, 'spend journal write failed: records still count, but a crash now may lose them')
    lastError = now
  })
  const ledger = bufferedLedger(store, { log: ctx.log, metrics: ctx.metrics, flushMs: options.flushMs, journal })
  const meters = usageMeters(ctx.metrics)
  const prices = createPriceTable(ctx.config.pricing, ctx.config.aliases)
  const onRecord = (record: Parameters<typeof meters.observe>[0], reason: string | undefined): void => {
    ledger.record(record)
    meters.observe(record, reason)
  }
  const interceptor = meteringInterceptor({
    prices,
    background: new BackgroundBilling(ctx.redis !== undefined ? redisBackgroundTracker(ctx.redis) : sqliteBackgroundTracker(ctx.sqlite!)),
    onRecord,
    maxEventBytes: ctx.config.MAX_EVENT_BYTES,
    maxDecodedBytes: ctx.config.MAX_BUFFERED_BYTES
  })
  return {
    name: 'metering',
    interceptor,
    modelLabel: (model) => prices.resolve(model).label,
    prices,
    record: (record) => { onRecord(record, undefined) },
    meterTokens: (req, model, tokens) => {
      const priced = prices.resolve(model)
      const summary = summarize(priced, tokens, false, false)
      onRecord(usageRecord(req, summary, priced, req.principal, false), undefined)
      return summary
    },
    spend: ledger,
    ledger,
    adminRoutes: (admin) => usageRoutes(admin, ledger, options.teamName),
    close: () => ledger.close()
  }
}

function ledgerStore (ctx: FeatureContext): LedgerStore {
  if (ctx.redis !== undefined) return redisLedgerStore(ctx.redis)
  if (ctx.sqlite !== undefined) return sqliteLedgerStore(ctx.sqlite)
  throw new Error('metering needs Redis or the embedded SQLite store')
}
