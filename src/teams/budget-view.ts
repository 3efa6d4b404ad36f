import type { BudgetPeriod } from '../config/schema.js'
import { nanosToUsd } from '../metering/money.js'

/** A budget as a key holder sees it: what it is, what was spent, what is left, when it resets. */
export interface BudgetView {
  readonly usd: number
  readonly period: BudgetPeriod
  readonly spent_usd: number
  readonly remaining_usd: number
  /** Start of the next period (UTC), ISO 8601; null for `total`. */
  readonly resets_at: string | null
}

/** When the budget period containing `nowMs` ends: next UTC midnight, next 1st of month, never. */
export function periodResetsAt (period: BudgetPeriod, nowMs: number): string | null {
  const d = new Date(nowMs)
  if (period === 'day') return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)).toISOString()
  if (period === 'month') return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString()
  return null
}

/**
 * The view of a budget from its spend in nano-dollars (exact integers; USD at the edge).
 * Remaining never goes below 0 (a budget may be passed by the last request admitted).
 * @example budgetView(10, 'month', 6_265_000, Date.now()).remaining_usd // 9.993735
 */
export function budgetView (usd: number, period: BudgetPeriod, spentNanos: number, nowMs: number): BudgetView {
  const budgetNanos = Math.round(usd * 1e9)
  return {
    usd,
    period,
    spent_usd: nanosToUsd(spentNanos),
    remaining_usd: nanosToUsd(Math.max(0, budgetNanos - spentNanos)),
    resets_at: periodResetsAt(period, nowMs)
  }
}
