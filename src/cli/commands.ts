import { CliError, type AdminRequest } from './admin-client.js'
import { cell, details, table } from './table.js'

/** The parsed command line (node:util parseArgs values). */
export type Flags = Record<string, string | boolean | string[] | undefined>

export interface CommandContext {
  readonly call: AdminRequest
  readonly flags: Flags
  readonly json: boolean
  readonly write: (text: string) => void
}

interface KeyJson { id: string, name: string, key?: string, revoked: boolean, read_only: boolean, expires_at: string | null, [field: string]: unknown }

const KEY_FIELDS = ['id', 'name', 'key_prefix', 'rpm', 'tpm', 'max_concurrency', 'budget_usd', 'budget_period', 'models', 'routes', 'expires_at', 'cache_ttl_seconds', 'metadata', 'created_at', 'revoked_at', 'read_only']
/** Flag → admin API field, and how its value is read. */
const NUMBER_FLAGS: Record<string, { field: string, integer: boolean }> = {
  rpm: { field: 'rpm', integer: true },
  tpm: { field: 'tpm', integer: true },
  'max-concurrency': { field: 'max_concurrency', integer: true },
  'budget-usd': { field: 'budget_usd', integer: false },
  'cache-ttl-seconds': { field: 'cache_ttl_seconds', integer: true }
}
export const KEY_FLAGS = ['name', ...Object.keys(NUMBER_FLAGS), 'budget-period', 'models', 'routes', 'expires-at', 'metadata']

function numberFlag (flag: string, raw: string, integer: boolean): number | null {
  if (raw === 'none') return null
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new CliError(`--${flag} wants ${integer ? 'a whole number' : 'a number'} or "none", not "${raw}"`, 2)
  }
  return n
}

function list (v: string | boolean | string[] | undefined): string[] {
  if (v === undefined || typeof v === 'boolean') return []
  return (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '')
}

/** The JSON body of `keys create` / `keys update` from the flags that were given. */
export function keyBody (flags: Flags): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  if (typeof flags.name === 'string') body.name = flags.name
  for (const [flag, { field, integer }] of Object.entries(NUMBER_FLAGS)) {
    const raw = flags[flag]
    if (typeof raw === 'string') body[field] = numberFlag(flag, raw, integer)
  }
  if (typeof flags['budget-period'] === 'string') body.budget_period = flags['budget-period']
  if (typeof flags['expires-at'] === 'string') body.expires_at = flags['expires-at'] === 'none' ? null : flags['expires-at']
  if (flags.models !== undefined) {
    const models = list(flags.models)
    body.models = models.length === 1 && models[0] === 'none' ? null : models
  }
  if (flags.routes !== undefined) {
    const routes = list(flags.routes)
    body.routes = routes.length === 1 && routes[0] === 'default' ? null : routes
  }
  if (flags.metadata !== undefined) {
    const labels: Record<string, string> = {}
    for (const pair of list(flags.metadata)) {
      if (pair === 'none') continue
      const i = pair.indexOf('=')
      if (i <= 0) throw new CliError(`--metadata wants key=value, not "${pair}"`, 2)
      labels[pair.slice(0, i)] = pair.slice(i + 1)
    }
    body.metadata = labels
  }
  return body
}

function status (k: KeyJson): string {
  const state = k.revoked ? 'revoked' : k.expires_at !== null && Date.parse(k.expires_at) <= Date.now() ? 'expired' : 'active'
  return k.read_only ? `${state} (config)` : state
}

function keyId (positionals: readonly string[], verb: string): string {
  const id = positionals[2]
  if (id === undefined) throw new CliError(`keys ${verb} needs the key id: comet-gateway keys ${verb} ID`, 2)
  return encodeURIComponent(id)
}

/** `keys create|list|get|update|revoke`. */
export async function keysCommand (ctx: CommandContext, positionals: readonly string[]): Promise<void> {
  const verb = positionals[1]
  const { call, json, write } = ctx
  if (verb === 'list') {
    const answer = await call('GET', '/admin/keys') as { data: KeyJson[] }
    if (json) { write(JSON.stringify(answer, null, 2) + '\n'); return }
    write(table(['ID', 'NAME', 'PREFIX', 'RPM', 'TPM', 'CONCURRENCY', 'BUDGET', 'MODELS', 'EXPIRES', 'STATUS'], answer.data.map((k) => [
      k.id, k.name, cell(k.key_prefix), cell(k.rpm), cell(k.tpm), cell(k.max_concurrency),
      k.budget_usd === null ? '-' : `$${cell(k.budget_usd)}/${cell(k.budget_period)}`, cell(k.models), cell(k.expires_at), status(k)
    ])))
    return
  }
  let key: KeyJson
  if (verb === 'create') {
    const body = keyBody(ctx.flags)
    if (body.name === undefined) throw new CliError('keys create needs --name', 2)
    key = await call('POST', '/admin/keys', body) as KeyJson
  } else if (verb === 'get') {
    key = await call('GET', `/admin/keys/${keyId(positionals, verb)}`) as KeyJson
  } else if (verb === 'update') {
    const id = keyId(positionals, verb)
    const body = keyBody(ctx.flags)
    if (Object.keys(body).length === 0) throw new CliError('keys update needs at least one field to change, e.g. --rpm 60', 2)
    key = await call('PATCH', `/admin/keys/${id}`, body) as KeyJson
  } else if (verb === 'revoke') {
    key = await call('DELETE', `/admin/keys/${keyId(positionals, verb)}`) as KeyJson
  } else {
    throw new CliError(verb === undefined ? 'keys needs a subcommand: create, list, get, update or revoke' : `unknown keys subcommand "${verb}" (create, list, get, update, revoke)`, 2)
  }
  if (json) { write(JSON.stringify(key, null, 2) + '\n'); return }
  if (key.key !== undefined) write(`key: ${key.key}\n(shown only now: store it safely, the gateway keeps only a hash)\n\n`)
  write(details({ ...key, status: status(key) }, [...KEY_FIELDS, 'status']))
}

const USAGE_COLUMNS = ['key_name', 'key_id', 'model', 'day', 'requests', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens', 'cost_usd', 'cache_hits', 'saved_usd']

/** `usage [--from D] [--to D] [--group-by key,model,day]`. */
export async function usageCommand (ctx: CommandContext): Promise<void> {
  const query = new URLSearchParams()
  for (const [flag, param] of [['from', 'from'], ['to', 'to'], ['group-by', 'group_by']] as const) {
    const v = ctx.flags[flag]
    if (typeof v === 'string') query.set(param, v)
  }
  const qs = query.toString()
  const answer = await ctx.call('GET', '/admin/usage' + (qs === '' ? '' : '?' + qs)) as { data: Array<Record<string, unknown>>, total_cost_usd?: number }
  if (ctx.json) { ctx.write(JSON.stringify(answer, null, 2) + '\n'); return }
  const rows = answer.data ?? []
  const columns = USAGE_COLUMNS.filter((c) => rows.some((r) => r[c] !== undefined))
  if (rows.length === 0) ctx.write('no usage in this period\n')
  else ctx.write(table(columns.map((c) => c.toUpperCase()), rows.map((r) => columns.map((c) => cell(r[c])))))
  if (answer.total_cost_usd !== undefined) ctx.write(`total cost: $${answer.total_cost_usd}\n`)
}
