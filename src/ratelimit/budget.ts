import type { Logger } from 'pino'
import type { Metrics } from '../metrics/metrics.js'
import type { SpendReader } from '../metering/spend.js'
import type { KeyRecord } from '../auth/key-record.js'
import type { FailMode } from './fail-mode.js'
import { budgetError } from './headers.js'
import type { Budget } from './key-limits.js'

export interface BudgetCheckOptions {
  /** Metering's spend ledger; without one, budgets are not enforced (warned once). */
  readonly spend: SpendReader | undefined
  readonly clock: () => number
  readonly failMode: FailMode
  readonly metrics: Metrics
  readonly log: Logger
}

/**
 * The budget check before a request: spend of the key's current UTC period (day, month
 * or all time) against `budget_usd`, in exact nano-dollars. Spent ≥ budget → 429
 * `insufficient_quota` with `x-should-retry: false`. Sets the budget gauges on each check.
 * @example await createBudgetCheck({ spend, clock, failMode, metrics, log })(ex.key, budget)
 */
export function createBudgetCheck (o: BudgetCheckOptions): (key: KeyRecord, budget: Budget) => Promise<void> {
  let warned = false
  return async function checkBudget (key, budget) {
    if (o.spend === undefined) {
      if (!warned) o.log.warn('budgets are not enforced: no spend ledger')
      warned = true
      return
    }
    let spent: number
    try {
      spent = await o.spend.spentNanos(key.id, budget.period, o.clock())
    } catch (err) {
      o.failMode.failed(err, 'budget', true)
      return
    }
    o.failMode.answered()
    const labels = { key: key.name, period: budget.period }
    o.metrics.budget.set(labels, budget.usd)
    o.metrics.budgetSpent.set(labels, spent / 1e9)
    if (spent >= Math.round(budget.usd * 1e9)) {
      o.metrics.rateLimited.inc({ key: key.name, limit: 'budget' })
      throw budgetError(budget.usd, budget.period)
    }
  }
}
