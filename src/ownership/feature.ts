import type { KeyPrincipal } from '../auth/principal.js'
import type { Feature, FeatureContext } from '../feature.js'
import type { PriceTable } from '../metering/pricing.js'
import type { UsageRecord } from '../metering/record.js'
import type { Interceptor } from '../proxy/interceptor.js'
import { BatchBilling } from './batch-billing.js'
import { ownershipInterceptor } from './interceptor.js'
import { createRedisOwnershipStore } from './redis-store.js'
import { createSqliteOwnershipStore } from './sqlite-store.js'
import type { OwnedObject, OwnershipStore } from './store.js'

export interface OwnershipFeature extends Feature {
  readonly name: 'ownership'
  readonly store: OwnershipStore
  /** Its slot on the request path: with access, before limits (a refused request uses no quota). */
  readonly interceptor: Interceptor<KeyPrincipal>
}

/**
 * Stored responses and chat completions expire upstream after 30 days; their records
 * are forgotten a day later, so the store does not grow with every request forever.
 * Files, batches, vector stores and the rest live until deleted.
 */
const EXPIRING: ReadonlyArray<OwnedObject['collection']> = ['responses', 'chat_completions']
const KEEP_MS = 31 * 86_400_000
const PRUNE_EVERY_MS = 3_600_000
/** Rows forgotten per collection per run (in batches of 1000). */
const PRUNE_MAX = 20_000

/** One pruning run: the expired records of each expiring collection, bounded. */
export async function prune (store: OwnershipStore, nowMs: number): Promise<number> {
  let total = 0
  for (const collection of EXPIRING) {
    for (let done = 0; done < PRUNE_MAX;) {
      const n = await store.prune(collection, nowMs - KEEP_MS, 1000)
      done += n
      total += n
      if (n < 1000) break
    }
  }
  return total
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
  const timer = setInterval(() => { prune(store, Date.now()).catch((err: Error) => { ctx.log.warn({ err: err.message }, 'expired objects not pruned yet') }) }, PRUNE_EVERY_MS)
  timer.unref()
  return {
    name: 'ownership',
    store,
    interceptor: ownershipInterceptor<KeyPrincipal>({ store, billing, log: ctx.log }),
    ready: () => store.ready(),
    close: async () => {
      clearInterval(timer)
      await store.close()
    }
  }
}
