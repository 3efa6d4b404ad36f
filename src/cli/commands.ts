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

interface KeyJson { id: string, name: string, key?: string, revoked: boolean, read_only: boolean, expires_at: string | null, previous_key_expires_at?: string | null, [field: string]: unknown }

const KEY_FIELDS = ['id', 'name', 'key_prefix', 'team_id', 'rpm', 'tpm', 'max_concurrency', 'budget_usd', 'budget_period', 'models', 'expires_at', 'cache_ttl_seconds', 'metadata', 'created_at', 'revoked_at', 'read_only']
/** Flag → admin API field, and how its value is read. */
const NUMBER_FLAGS: Record<string, { field: string, integer: boolean }> = {
  rpm: { field: 'rpm', integer: true },
  tpm: { field: 'tpm', integer: true },
  'max-concurrency': { field: 'max_concurrency', integer: true },
  'budget-usd': { field: 'budget_usd', integer: false },
  'cache-ttl-seconds': { field: 'cache_ttl_seconds', integer: true }
}
export const KEY_FLAGS = ['name', ...Object.keys(NUMBER_FLAGS), 'budget-period', 'models', 'expires-at', 'metadata', 'team']
/** What a team takes: the limits, budget, models and labels of a key. */
export const TEAM_FLAGS = ['name', 'rpm', 'tpm', 'max-concurrency', 'budget-usd', 'budget-period', 'models', 'metadata']

function numberFlag (flag: string, raw: string, integer: boolean): number | null {
  if (raw === 'none') return null
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new CliError(`--${flag} wants ${integer ? 'a whole number' : 'a number'} or "none", not "${raw}"`, 2)
  }
  // Budgets may be 0 (nothing may be spent); limits and TTLs below their minimum make no sense.
  const min = flag === 'budget-usd' || flag === 'cache-ttl-seconds' ? 0 : 1
  if (n < min) throw new CliError(`--${flag} must be ${min === 0 ? '0 or more' : 'at least 1'} (or "none" to clear it), not ${raw}`, 2)
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
  if (typeof flags.team === 'string') body.team_id = flags.team === 'none' ? null : flags.team
  return body
}

/** The JSON body of `teams create` / `teams update`: the same flags as keys, minus what only keys have. */
export function teamBody (flags: Flags): Record<string, unknown> {
  const body = keyBody(flags)
  delete body.team_id
  return body
}

function status (k: KeyJson): string {
  const state = k.revoked ? 'revoked' : k.expires_at !== null && Date.parse(k.expires_at) <= Date.now() ? 'expired' : 'active'
  return k.read_only ? `${state} (config)` : state
}

function keyId (positionals: readonly string[], verb: string, what = 'keys'): string {
  const id = positionals[2]
  if (id === undefined) throw new CliError(`${what} ${verb} needs the ${what === 'keys' ? 'key' : 'team'} id: comet-gateway ${what} ${verb} ID`, 2)
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
  } else if (verb === 'rotate') {
    const id = keyId(positionals, verb)
    const grace = ctx.flags.grace
    const body: Record<string, unknown> = {}
    if (typeof grace === 'string') {
      const n = Number(grace)
      if (grace.trim() === '' || !Number.isInteger(n) || n < 0) throw new CliError(`--grace wants whole seconds (0 or more), not "${grace}"`, 2)
      body.grace_seconds = n
    }
    key = await call('POST', `/admin/keys/${id}/rotate`, body) as KeyJson
  } else {
    throw new CliError(verb === undefined ? 'keys needs a subcommand: create, list, get, update, rotate or revoke' : `unknown keys subcommand "${verb}" (create, list, get, update, rotate, revoke)`, 2)
  }
  if (json) { write(JSON.stringify(key, null, 2) + '\n'); return }
  if (key.key !== undefined) write(`key: ${key.key}\n(shown only now: store it safely, the gateway keeps only a hash)\n\n`)
  if (typeof key.previous_key_expires_at === 'string') write(`the old key keeps working until ${key.previous_key_expires_at}\n\n`)
  else if (verb === 'rotate') write('the old key no longer works\n\n')
  write(details({ ...key, status: status(key) }, [...KEY_FIELDS, 'status']))
}

const TEAM_FIELDS = ['id', 'name', 'rpm', 'tpm', 'max_concurrency', 'budget_usd', 'budget_period', 'models', 'metadata', 'created_at']

/** `teams create|list|get|update|delete`. */
export async function teamsCommand (ctx: CommandContext, positionals: readonly string[]): Promise<void> {
  const verb = positionals[1]
  const { call, json, write } = ctx
  if (verb === 'list') {
    const answer = await call('GET', '/admin/teams') as { data: Array<Record<string, unknown>> }
    if (json) { write(JSON.stringify(answer, null, 2) + '\n'); return }
    if (answer.data.length === 0) { write('no teams\n'); return }
    write(table(['ID', 'NAME', 'RPM', 'TPM', 'CONCURRENCY', 'BUDGET', 'MODELS'], answer.data.map((t) => [
      String(t.id), String(t.name), cell(t.rpm), cell(t.tpm), cell(t.max_concurrency),
      t.budget_usd === null ? '-' : `$${cell(t.budget_usd)}/${cell(t.budget_period)}`, cell(t.models)
    ])))
    return
  }
  let team: Record<string, unknown>
  if (verb === 'create') {
    const body = teamBody(ctx.flags)
    if (body.name === undefined) throw new CliError('teams create needs --name', 2)
    team = await call('POST', '/admin/teams', body) as Record<string, unknown>
  } else if (verb === 'get') {
    team = await call('GET', `/admin/teams/${keyId(positionals, verb, 'teams')}`) as Record<string, unknown>
  } else if (verb === 'update') {
    const id = keyId(positionals, verb, 'teams')
    const body = teamBody(ctx.flags)
    if (Object.keys(body).length === 0) throw new CliError('teams update needs at least one field to change, e.g. --budget-usd 500', 2)
    team = await call('PATCH', `/admin/teams/${id}`, body) as Record<string, unknown>
  } else if (verb === 'delete') {
    team = await call('DELETE', `/admin/teams/${keyId(positionals, verb, 'teams')}`) as Record<string, unknown>
    if (json) { write(JSON.stringify(team, null, 2) + '\n'); return }
    write(`deleted team ${String(team.id)}\n`)
    return
  } else {
    throw new CliError(verb === undefined ? 'teams needs a subcommand: create, list, get, update or delete' : `unknown teams subcommand "${verb}" (create, list, get, update, delete)`, 2)
  }
  if (json) { write(JSON.stringify(team, null, 2) + '\n'); return }
  write(details(team, TEAM_FIELDS))
}

/** `audit [--from D] [--to D] [--target ID] [--action A]`: newest first. */
export async function auditCommand (ctx: CommandContext): Promise<void> {
  const query = new URLSearchParams()
  for (const [flag, param] of [['from', 'from'], ['to', 'to'], ['target', 'target_id'], ['action', 'action']] as const) {
    const v = ctx.flags[flag]
    if (typeof v === 'string') query.set(param, v)
  }
  const qs = query.toString()
  const answer = await ctx.call('GET', '/admin/audit' + (qs === '' ? '' : '?' + qs)) as { data: Array<Record<string, unknown>> }
  if (ctx.json) { ctx.write(JSON.stringify(answer, null, 2) + '\n'); return }
  if (answer.data.length === 0) { ctx.write('no changes recorded in this period\n'); return }
  ctx.write(table(['AT', 'ACTOR', 'ACTION', 'TARGET', 'CHANGES'], answer.data.map((e) => [
    String(e.at), String(e.actor), String(e.action), String(e.target_id),
    Object.entries(e.changes as Record<string, [unknown, unknown]>).map(([f, [b, a]]) => `${f}: ${JSON.stringify(b)} → ${JSON.stringify(a)}`).join('; ')
  ])))
}

const USAGE_COLUMNS = ['team_name', 'team_id', 'key_name', 'key_id', 'model', 'day', 'requests', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens', 'cost_usd', 'cache_hits', 'saved_usd']

/** `usage [--from D] [--to D] [--group-by key,team,model,day] [--key ID] [--team ID] [--model M]`. */
export async function usageCommand (ctx: CommandContext): Promise<void> {
  const query = new URLSearchParams()
  for (const [flag, param] of [['from', 'from'], ['to', 'to'], ['group-by', 'group_by'], ['key', 'key_id'], ['team', 'team_id'], ['model', 'model']] as const) {
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
