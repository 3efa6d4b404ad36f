import type { BudgetPeriod } from '../config/schema.js'

/**
 * What budgets read from the spend ledger: the money a key has spent in the current
 * budget period (UTC day, UTC month, or all time), in integer nano-dollars (1e-9 USD;
 * exact as a JS number up to about $9M). Implemented by metering's ledger (SQLite or
 * Redis); it includes spend still buffered in this process.
 * Throws when the ledger cannot be read (the caller applies LIMITS_FAIL_MODE).
 */
export interface SpendReader {
  spentNanos (keyId: string, period: BudgetPeriod, nowMs: number): Promise<number>
}
