/**
 * One row of `GET /admin/usage`, as docs/admin-api.md shows it; fields not grouped by are
 * left out. In a module of its own with no imports: the server writes it and the web UI
 * (a separate bundle) reads it, from this one definition.
 */
export interface UsageRowJson {
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
