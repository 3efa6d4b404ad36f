import type { Principal } from '../proxy/interceptor.js'
import type { BudgetPeriod } from '../config/schema.js'
import type { KeyRecord } from './key-record.js'

/**
 * What limits and access need of a key's team: its limits, budget and model allow-list.
 * The teams feature's record satisfies this shape.
 */
export interface TeamLimits {
  readonly id: string
  readonly name: string
  readonly rpm: number | null
  readonly tpm: number | null
  readonly max_concurrency: number | null
  readonly budget_usd: number | null
  readonly budget_period: BudgetPeriod
  /** Allow-list of model names and `*` patterns; null or empty = every model. */
  readonly models: readonly string[] | null
}

/**
 * The principal of a request made with a gateway key: what the request path's
 * interceptors (access, limits, metering, cache) read about the caller. The relay itself
 * sees only `Principal`.
 */
export interface KeyPrincipal extends Principal {
  readonly key: KeyRecord
  readonly team: TeamLimits | null
}

/** The principal for an authenticated key and its team (if any). */
export function keyPrincipal (key: KeyRecord, team: TeamLimits | null = null): KeyPrincipal {
  return { id: key.id, name: key.name, teamId: team?.id ?? null, teamName: team?.name ?? null, key, team }
}
