/** The admin API's shapes, as the page reads them (no DOM here: unit tests import it). */

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

export interface UsageRow {
  key_id?: string
  key_name?: string
  team_id?: string | null
  team_name?: string | null
  model?: string
  day?: string
  requests: number
  input_tokens: number
  cached_input_tokens: number
  output_tokens: number
  reasoning_tokens: number
  cost_usd: number
  cache_hits: number
  saved_usd: number
}

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
