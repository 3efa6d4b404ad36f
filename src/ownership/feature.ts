import type { KeyPrincipal } from '../auth/principal.js'
import type { Feature, FeatureContext } from '../feature.js'
import type { PriceTable } from '../metering/pricing.js'
import type { UsageRecord } from '../metering/record.js'
import type { Interceptor } from '../proxy/interceptor.js'
import { BatchBilling } from './batch-billing.js'
import { ownershipInterceptor } from './interceptor.js'
import { createRedisOwnershipStore } from './redis-store.js'
import { createSqliteOwnershipStore } from './sqlite-store.js'
import type { OwnershipStore } from './store.js'

export interface OwnershipFeature extends Feature {
  readonly name: 'ownership'
  readonly store: OwnershipStore
  /** Its slot on the request path: with access, before limits (a refused request uses no quota). */
  readonly interceptor: Interceptor<KeyPrincipal>
}

export interface OwnershipFeatureOptions {
  /** The price table batches are billed at (batch rates where it has them). */
  readonly prices: PriceTable
  /** Where a batch's usage goes when its results are read: the metering ledger and meters. */
  readonly onRecord: (record: UsageRecord) => void
}

/**
 * Objects belong to their creator: the ownership store (Redis when configured, so every
 * instance agrees; else SQLite under DATA_DIR), the interceptor that checks and records
 * owners, and batch billing.
 * @example const ownership = createOwnershipFeature(ctx, { prices, onRecord: (r) => ledger.record(r) })
 */
export function createOwnershipFeature (ctx: FeatureContext, opts: OwnershipFeatureOptions): OwnershipFeature {
  const store = ctx.redis !== undefined ? createRedisOwnershipStore(ctx.redis) : ctx.sqlite !== undefined ? createSqliteOwnershipStore(ctx.sqlite) : undefined
  if (store === undefined) throw new Error('ownership needs Redis or the embedded SQLite store')
  const billing = new BatchBilling({ store, prices: opts.prices, onRecord: opts.onRecord, log: ctx.log })
  return {
    name: 'ownership',
    store,
    interceptor: ownershipInterceptor<KeyPrincipal>({ store, billing, log: ctx.log }),
    ready: () => store.ready(),
    close: () => store.close()
  }
}
