import type { KeyRecord } from '../auth/key-record.js'
import type { BudgetPeriod, Limits } from '../config/schema.js'
import type { LimitSpec } from './limiter.js'

export interface Budget {
  readonly usd: number
  readonly period: BudgetPeriod
}

/** The limits that apply to one key: its own, else `limits.defaults` of the config. */
export interface KeyLimits {
  readonly spec: LimitSpec
  readonly budget: Budget | undefined
}

/**
 * Merges a key's limits over the config's defaults, field by field: a key's own value
 * wins; a key without one gets the default. (A key record cannot say "explicitly
 * unlimited": `null` means "not set" both in the admin API and in the config file.)
 * A key that sets `budget_usd` keeps its own `budget_period`; one that inherits the
 * default budget inherits the default period too (else `month`).
 * @example keyLimits(ex.key, config.limits.defaults).spec.rpm
 */
export function keyLimits (key: KeyRecord, defaults: Limits): KeyLimits {
  const spec: LimitSpec = {
    rpm: key.rpm ?? defaults.rpm ?? null,
    tpm: key.tpm ?? defaults.tpm ?? null,
    maxConcurrency: key.max_concurrency ?? defaults.max_concurrency ?? null
  }
  let budget: Budget | undefined
  if (key.budget_usd !== null) budget = { usd: key.budget_usd, period: key.budget_period }
  else if (defaults.budget_usd !== undefined && defaults.budget_usd !== null) budget = { usd: defaults.budget_usd, period: defaults.budget_period ?? 'month' }
  return { spec, budget }
}
