import type { Logger } from 'pino'
import type { PriceTable, UnitPrice } from '../metering/pricing.js'
import type { UsageRecord } from '../metering/record.js'
import type { TokenUsage } from '../metering/usage.js'
import { batchCost, isZero, type BatchRates } from './batch-usage.js'
import type { OwnershipStore } from './store.js'

/** Who a batch is billed to: its creator, whoever reads the results. */
export interface BatchOwner {
  readonly keyId: string
  readonly keyName: string
}

export interface BatchBillingOptions {
  readonly store: OwnershipStore
  readonly prices: PriceTable
  /** The metering sink: the ledger (budgets read it) and the usage metrics. */
  readonly onRecord: (record: UsageRecord) => void
  readonly log: Logger
}

/**
 * Bills batches when their results are read back. Each read reports the usage it saw
 * (the batch object's total, or the output file's lines); the store raises the batch's
 * billed high-water mark atomically and only the rise is recorded, at batch prices.
 * So a batch read back many times, on any instance, partly or whole, is charged once.
 */
export class BatchBilling {
  constructor (private readonly opts: BatchBillingOptions) {}

  /** Records the rise (if any). Never rejects: a store failure leaves it for the next read. */
  async bill (batchId: string, owner: BatchOwner, seen: TokenUsage, model: string | undefined, route: string): Promise<UsageRecord | undefined> {
    let up: TokenUsage
    try {
      up = await this.opts.store.raiseBilled(batchId, seen)
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, batchId }, 'batch usage not billed yet: ownership store unreachable; the next read bills it')
      return undefined
    }
    if (isZero(up)) return undefined
    const priced = this.opts.prices.resolve(model)
    const price = priced.price as (UnitPrice & BatchRates) | undefined
    const record: UsageRecord = {
      keyId: owner.keyId,
      keyName: owner.keyName,
      model: priced.model,
      label: priced.label,
      route,
      inputTokens: up.input,
      cachedInputTokens: up.cached,
      outputTokens: up.output,
      reasoningTokens: up.reasoning,
      costNanos: price === undefined ? 0 : batchCost(up, price),
      cacheHit: false,
      savedNanos: 0,
      estimated: false,
      priced: price !== undefined,
      latencyMs: 0,
      atMs: Date.now()
    }
    this.opts.onRecord(record)
    return record
  }
}
