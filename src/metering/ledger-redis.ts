import { RELEASE_LUA } from '../ratelimit/redis-scripts.js'
import type { RedisClient } from '../store/redis.js'
import type { LedgerStore } from './ledger.js'
import { COUNTERS, emptyRow, utcDay, type Counter, type LedgerRow } from './record.js'

/**
 * The shared ledger in Redis (single node or Cluster). Every key of one gateway key sits
 * under the hash tag `{gw:spend:<keyId>}`, so one Lua call updates them atomically on
 * one Cluster slot, and a budget check is one HGET:
 *
 *   {gw:spend:<id>}:d:<YYYY-MM-DD>  hash  "<model>:<counter>" → integer   (per key × model × day)
 *   {gw:spend:<id>}:sum             hash  "d:<day>" | "m:<YYYY-MM>" | "t" → cost nano-USD
 *   {gw:spend:<id>}:days            set   days that have a row
 *   {gw:spend:<id>}:meta            hash  name → the key's name
 *   {gw:spend:<id>}:b:<batchId>     string, 1 day TTL: this batch was applied (retries are no-ops)
 *   gw:spend:keys                   set   key ids with spend (for /admin/usage)
 *
 * A team's spend sums live under `{gw:team-spend:<teamId>}:sum` (same fields). Each tag
 * also holds its subject's admission state (`:rl`, `:o`, `:p`, `:a`; see the reservation
 * scripts in ratelimit/redis-scripts.ts), so that:
 *
 * Why a reservation's money is never counted twice nor missed, on any instance: budgets
 * read `sum + pending + open` in one script. A request's money sits in `open` from
 * admission; settlement moves the actual cost from `open` to `pending` (one script);
 * the ledger's write of the batch holding that request adds the cost to `sum` and
 * removes the reservation from `pending` (or from `open`, had the write come first) in
 * one script. The write applies a batch id once, so a retried or replayed batch neither
 * adds the cost again nor releases anything again. A reservation whose instance died
 * expires on its own; the journal then replays the record's cost into `sum` at restart.
 */
const KEYS_INDEX = 'gw:spend:keys'
const BATCH_TTL_SECONDS = 86_400

/** Redis field names per counter (short, stable: they are the stored format). */
const FIELD: Record<Counter, string> = {
  requests: 'requests',
  inputTokens: 'input',
  cachedInputTokens: 'cached',
  outputTokens: 'output',
  reasoningTokens: 'reasoning',
  costNanos: 'cost',
  cacheHits: 'hits',
  savedNanos: 'saved',
  estimated: 'estimated'
}
const COUNTER_OF = new Map(COUNTERS.map((c) => [FIELD[c], c]))

// KEYS: batch marker, sum, days, meta, rl, o, p, a, then one day hash per day.
// ARGV: ttl, name ('' = no rows), n ids, ids…, n sum pairs, sum field/incr…, then per day hash: day, n pairs, field/incr…
const APPLY = RELEASE_LUA + `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[4], 'name', ARGV[2]) end
local i = 4
local ids = {}
for _ = 1, tonumber(ARGV[3]) do ids[#ids + 1] = ARGV[i]; i = i + 1 end
local sums = tonumber(ARGV[i]); i = i + 1
for _ = 1, sums do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2 end
for k = 9, #KEYS do
  redis.call('SADD', KEYS[3], ARGV[i])
  local n = tonumber(ARGV[i + 1]); i = i + 2
  for _ = 1, n do redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1]); i = i + 2 end
end
releaseAll(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ids)
return 1`

// A team's part of a batch. KEYS: batch marker, sum, rl, o, p, a. ARGV: ttl, n ids, ids…, n sum pairs, field/incr…
const APPLY_TEAM = RELEASE_LUA + `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local i = 3
local ids = {}
for _ = 1, tonumber(ARGV[2]) do ids[#ids + 1] = ARGV[i]; i = i + 1 end
local sums = tonumber(ARGV[i]); i = i + 1
for _ = 1, sums do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2 end
releaseAll(KEYS[3], KEYS[4], KEYS[5], KEYS[6], ids)
return 1`

type ApplyCommand = (...args: Array<string | number>) => Promise<number>

const tag = (keyId: string): string => `{gw:spend:${keyId}}`
const teamTag = (teamId: string): string => `{gw:team-spend:${teamId}}`

/** The hash tag of a subject's spend sums and admission state. */
export function spendTag (scope: 'key' | 'team', id: string): string {
  return scope === 'key' ? tag(id) : teamTag(id)
}

/** A subject's sum, rl, o, p and a keys (see the layout above and ratelimit/redis-scripts.ts). */
export function reservationKeys (scope: 'key' | 'team', id: string): readonly string[] {
  const t = spendTag(scope, id)
  return [`${t}:sum`, `${t}:rl`, `${t}:o`, `${t}:p`, `${t}:a`]
}

/** Spend sums of rows per budget field: `d:<day>`, `m:<month>`, `t`. */
function sumsOf (rows: readonly LedgerRow[]): Map<string, number> {
  const sums = new Map<string, number>()
  let total = 0
  for (const row of rows) {
    total += row.costNanos
    sums.set('d:' + row.day, (sums.get('d:' + row.day) ?? 0) + row.costNanos)
    sums.set('m:' + row.day.slice(0, 7), (sums.get('m:' + row.day.slice(0, 7)) ?? 0) + row.costNanos)
  }
  if (rows.length > 0) sums.set('t', total)
  return sums
}

/** The KEYS and ARGV of one key's part of a batch (rows may be empty: releases only). */
function applyArgs (keyId: string, rows: readonly LedgerRow[], batchId: string, ids: readonly string[]): Array<string | number> {
  const t = tag(keyId)
  const [, , o, p, a] = reservationKeys('key', keyId)
  const keys = [`${t}:b:${batchId}`, `${t}:sum`, `${t}:days`, `${t}:meta`, `${t}:rl`, o!, p!, a!]
  const sums = sumsOf(rows)
  const byDay = new Map<string, string[]>()
  for (const row of rows) {
    let pairs = byDay.get(row.day)
    if (pairs === undefined) byDay.set(row.day, pairs = [])
    // A team key's fields carry the team, so usage by team reads back from the key's days.
    const name = row.teamId !== null && row.teamId !== undefined ? `${row.teamId}|${row.model}` : row.model
    for (const c of COUNTERS) if (row[c] !== 0) pairs.push(`${name}:${FIELD[c]}`, String(row[c]))
  }
  const argv: string[] = [String(BATCH_TTL_SECONDS), rows.at(-1)?.keyName ?? '', String(ids.length), ...ids, String(sums.size)]
  for (const [f, n] of sums) argv.push(f, String(n))
  for (const [day, pairs] of byDay) {
    keys.push(`${t}:d:${day}`)
    argv.push(day, String(pairs.length / 2), ...pairs)
  }
  return [keys.length, ...keys, ...argv]
}

/** The KEYS and ARGV of one team's part of a batch. */
function teamArgs (teamId: string, rows: readonly LedgerRow[], batchId: string, ids: readonly string[]): Array<string | number> {
  const [sum, rl, o, p, a] = reservationKeys('team', teamId)
  const sums = sumsOf(rows)
  const argv: string[] = [String(BATCH_TTL_SECONDS), String(ids.length), ...ids, String(sums.size)]
  for (const [f, n] of sums) argv.push(f, String(n))
  return [6, `${teamTag(teamId)}:b:${batchId}`, sum!, rl!, o!, p!, a!, ...argv]
}

function group<T> (items: Iterable<T>, keyOf: (t: T) => string | null | undefined): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (const item of items) {
    const k = keyOf(item)
    if (k === null || k === undefined) continue
    let list = out.get(k)
    if (list === undefined) out.set(k, list = [])
    list.push(item)
  }
  return out
}

/** A day hash → rows (fields are `<model>:<counter>`; a model name may hold colons). */
/** `team_…|` in front of a day field's model: the team the key was in. */
const TEAM_PREFIX = /^(team_[0-9a-zA-Z_-]+)\|/

function parseDay (keyId: string, keyName: string, day: string, hash: Record<string, string>): LedgerRow[] {
  const rows = new Map<string, LedgerRow>()
  for (const [field, value] of Object.entries(hash)) {
    const at = field.lastIndexOf(':')
    const counter = COUNTER_OF.get(field.slice(at + 1))
    if (at <= 0 || counter === undefined) continue
    const name = field.slice(0, at)
    const team = TEAM_PREFIX.exec(name)
    const model = team === null ? name : name.slice(team[0].length)
    let row = rows.get(name)
    if (row === undefined) rows.set(name, row = emptyRow(keyId, keyName, model, day, team === null ? null : team[1]!))
    row[counter] = Number(value)
  }
  return [...rows.values()]
}

/**
 * @example const ledger = bufferedLedger(redisLedgerStore(redis), { log, metrics })
 */
export function redisLedgerStore (redis: RedisClient): LedgerStore {
  if (typeof (redis as unknown as { spendApplyV2?: unknown }).spendApplyV2 !== 'function') {
    redis.defineCommand('spendApplyV2', { lua: APPLY })
    redis.defineCommand('spendApplyTeam', { lua: APPLY_TEAM })
  }
  const apply = (redis as unknown as { spendApplyV2: ApplyCommand }).spendApplyV2.bind(redis)
  const applyTeam = (redis as unknown as { spendApplyTeam: ApplyCommand }).spendApplyTeam.bind(redis)

  const keyRows = async (keyId: string, from: string, to: string): Promise<LedgerRow[]> => {
    const t = tag(keyId)
    const [days, name] = await Promise.all([redis.smembers(`${t}:days`), redis.hget(`${t}:meta`, 'name')])
    const wanted = days.filter((d) => d >= from && d <= to)
    const hashes = await Promise.all(wanted.map((d) => redis.hgetall(`${t}:d:${d}`)))
    return hashes.flatMap((h, i) => parseDay(keyId, name ?? keyId, wanted[i]!, h))
  }

  return {
    async write (rows, batchId, releases = []) {
      const byKey = group(rows, (r) => r.keyId)
      const byTeam = group(rows, (r) => r.teamId)
      const keyIds = new Map<string, string[]>()
      const teamIds = new Map<string, string[]>()
      for (const r of releases) (r.scope === 'key' ? keyIds : teamIds).set(r.id, r.ids)
      // Another slot than the per-key keys, so a separate (idempotent) command.
      if (byKey.size > 0) await redis.sadd(KEYS_INDEX, ...byKey.keys())
      // Each key's and each team's part is its own slot: one idempotent script each.
      const keyParts = new Set([...byKey.keys(), ...keyIds.keys()])
      const teamParts = new Set([...byTeam.keys(), ...teamIds.keys()])
      await Promise.all([
        ...[...keyParts].map((id) => apply(...applyArgs(id, byKey.get(id) ?? [], batchId, keyIds.get(id) ?? []))),
        ...[...teamParts].map((id) => applyTeam(...teamArgs(id, byTeam.get(id) ?? [], batchId, teamIds.get(id) ?? [])))
      ])
    },

    async spent (keyId, period, nowMs) {
      return Number(await redis.hget(`${tag(keyId)}:sum`, fieldOf(period, nowMs)) ?? 0)
    },

    async teamSpent (teamId, period, nowMs) {
      return Number(await redis.hget(`${teamTag(teamId)}:sum`, fieldOf(period, nowMs)) ?? 0)
    },

    async rows (from, to) {
      const ids = await redis.smembers(KEYS_INDEX)
      const out: LedgerRow[] = []
      // A few keys at a time: bounded concurrency against Redis.
      for (let i = 0; i < ids.length; i += 32) {
        for (const rows of await Promise.all(ids.slice(i, i + 32).map((id) => keyRows(id, from, to)))) out.push(...rows)
      }
      return out
    }
  }
}

function fieldOf (period: 'day' | 'month' | 'total', nowMs: number): string {
  const day = utcDay(nowMs)
  return period === 'day' ? 'd:' + day : period === 'month' ? 'm:' + day.slice(0, 7) : 't'
}
