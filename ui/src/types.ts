/** The admin API's shapes, as the page reads them (no DOM here: unit tests import it). */
import type { UsageRowJson } from '../../src/metering/usage-row.js'

export interface List<T> { object: 'list', data: T[] }

export type BudgetPeriod = 'day' | 'month' | 'total'

export interface Limits {
  rpm: number | null
  tpm: number | null
  max_concurrency: number | null
  budget_usd: number | null
  budget_period: BudgetPeriod
  models: string[] | null
}

export interface Key extends Limits {
  id: string
  name: string
  key_prefix: string
  team_id?: string | null
  expires_at: string | null
  cache_ttl_seconds: number | null
  created_at: string
  revoked: boolean
  revoked_at: string | null
  read_only?: boolean
  spent_usd?: number
}

export interface CreatedKey extends Key { key: string }

export interface Team extends Limits {
  id: string
  name: string
  metadata?: Record<string, string> | null
  created_at?: string
  spent_usd?: number
}

/** The server's own definition (a type-only import: nothing of the server is bundled). */
export type UsageRow = UsageRowJson

export interface Usage extends List<UsageRow> { total_cost_usd: number }

export interface AuditEntry {
  id?: string
  at: string
  actor: string
  action: string
  target_type: string
  target_id: string
  changes: Record<string, [unknown, unknown]> | null
  request_id: string | null
  ip: string | null
}

/** Fields a key or team form sends; null clears a limit. */
export type LimitsInput = Partial<Limits> & { name?: string }
