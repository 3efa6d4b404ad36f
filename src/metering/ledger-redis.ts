import type { RedisClient } from '../store/redis.js'
import type { LedgerStore } from './ledger.js'
import { COUNTERS, emptyRow, utcDay, type Counter, type LedgerRow } from './record.js'

/**
 * The shared ledger in Redis (single node or Cluster). Every key of one gateway key sits
 * under the hash tag `{gw:spend:<keyId>}`, so one Lua call updates them atomically on
 * one Cluster slot, and a budget check is one HGET:
 *
 *   {gw:spend:<id>}:d:<YYYY-MM-DD>  hash  "<model>:<counter>" → integer   (per key × model × day;
 *                                         "<teamId>|<model>:<counter>" while the key was in a team)
 *   {gw:spend:<id>}:sum             hash  "d:<day>" | "m:<YYYY-MM>" | "t" → cost nano-USD
 *   {gw:spend:<id>}:days            set   days that have a row
 *   {gw:spend:<id>}:meta            hash  name → the key's name
 *   {gw:spend:<id>}:b:<batchId>     string, 1 day TTL: this batch was applied (retries are no-ops)
 *   gw:spend:keys                   set   key ids with spend (for /admin/usage)
 *   {gw:spend:team:<teamId>}:sum    hash  like a key's sum, for every key's spend in the team
 *   {gw:spend:team:<teamId>}:b:<batchId>  the team's part of this batch was applied
 *   gw:spend:teams                  hash  team id → its latest name
 */
const TEAM_NAMES = 'gw:spend:teams'
const TEAM_ID = /^(team_[0-9a-f]+)\|/
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

// KEYS: batch marker, sum, days, meta, then one day hash per day.
// ARGV: ttl, name, n sum pairs, sum field/incr…, then per day hash: day, n pairs, field/incr…
const APPLY = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HSET', KEYS[4], 'name', ARGV[2])
local i = 4
for _ = 1, tonumber(ARGV[3]) do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2 end
for k = 5, #KEYS do
  redis.call('SADD', KEYS[3], ARGV[i])
  local n = tonumber(ARGV[i + 1]); i = i + 2
  for _ = 1, n do redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1]); i = i + 2 end
end
return 1`

// KEYS: batch marker, sum. ARGV: ttl, then field/incr pairs.
const APPLY_TEAM = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1`

type ApplyCommand = (...args: Array<string | number>) => Promise<number>

const teamTag = (teamId: string): string => `{gw:spend:team:${teamId}}`

/** Sum fields of one row's cost: its day, its month, all time. */
function addSums (sums: Map<string, number>, row: LedgerRow): void {
  for (const f of ['d:' + row.day, 'm:' + row.day.slice(0, 7), 't']) sums.set(f, (sums.get(f) ?? 0) + row.costNanos)
}

/** The team part of a batch: per team, its sums (same fields as a key's). */
function teamArgs (rows: readonly LedgerRow[], batchId: string): Array<Array<string | number>> {
  const byTeam = new Map<string, Map<string, number>>()
  for (const row of rows) {
    if (!row.teamId) continue
    let sums = byTeam.get(row.teamId)
    if (sums === undefined) byTeam.set(row.teamId, sums = new Map())
    addSums(sums, row)
  }
  return [...byTeam].map(([teamId, sums]) => [`${teamTag(teamId)}:b:${batchId}`, `${teamTag(teamId)}:sum`, BATCH_TTL_SECONDS, ...[...sums].flat()])
}

const tag = (keyId: string): string => `{gw:spend:${keyId}}`

/** The KEYS and ARGV of one key's part of a batch. */
function applyArgs (keyId: string, rows: readonly LedgerRow[], batchId: string): Array<string | number> {
  const t = tag(keyId)
  const keys = [`${t}:b:${batchId}`, `${t}:sum`, `${t}:days`, `${t}:meta`]
  const sums = new Map<string, number>()
  const byDay = new Map<string, string[]>()
  let total = 0
  for (const row of rows) {
    total += row.costNanos
    sums.set('d:' + row.day, (sums.get('d:' + row.day) ?? 0) + row.costNanos)
    sums.set('m:' + row.day.slice(0, 7), (sums.get('m:' + row.day.slice(0, 7)) ?? 0) + row.costNanos)
    let pairs = byDay.get(row.day)
    if (pairs === undefined) byDay.set(row.day, pairs = [])
    const prefix = row.teamId ? row.teamId + '|' : ''
    for (const c of COUNTERS) if (row[c] !== 0) pairs.push(`${prefix}${row.model}:${FIELD[c]}`, String(row[c]))
  }
  sums.set('t', total)
  const argv: string[] = [String(BATCH_TTL_SECONDS), rows.at(-1)!.keyName, String(sums.size)]
  for (const [f, n] of sums) argv.push(f, String(n))
  for (const [day, pairs] of byDay) {
    keys.push(`${t}:d:${day}`)
    argv.push(day, String(pairs.length / 2), ...pairs)
  }
  return [keys.length, ...keys, ...argv]
}

/** A day hash → rows (fields are `<model>:<counter>`; a model name may hold colons). */
function parseDay (keyId: string, keyName: string, day: string, hash: Record<string, string>, teamNames: Readonly<Record<string, string>>): LedgerRow[] {
  const rows = new Map<string, LedgerRow>()
  for (const [field, value] of Object.entries(hash)) {
    const at = field.lastIndexOf(':')
    const counter = COUNTER_OF.get(field.slice(at + 1))
    if (at <= 0 || counter === undefined) continue
    const team = TEAM_ID.exec(field)?.[1] ?? ''
    const model = field.slice(team === '' ? 0 : team.length + 1, at)
    const id = team + '|' + model
    let row = rows.get(id)
    if (row === undefined) rows.set(id, row = emptyRow(keyId, keyName, model, day, team, team === '' ? '' : teamNames[team] ?? team))
    row[counter] = Number(value)
  }
  return [...rows.values()]
}

/**
 * @example const ledger = bufferedLedger(redisLedgerStore(redis), { log, metrics })
 */
export function redisLedgerStore (redis: RedisClient): LedgerStore {
  if (typeof (redis as unknown as { spendApply?: unknown }).spendApply !== 'function') {
    redis.defineCommand('spendApply', { lua: APPLY })
  }
  if (typeof (redis as unknown as { spendApplyTeam?: unknown }).spendApplyTeam !== 'function') {
    redis.defineCommand('spendApplyTeam', { numberOfKeys: 2, lua: APPLY_TEAM })
  }
  const apply = (redis as unknown as { spendApply: ApplyCommand }).spendApply.bind(redis)
  const applyTeam = (redis as unknown as { spendApplyTeam: ApplyCommand }).spendApplyTeam.bind(redis)

  const keyRows = async (keyId: string, from: string, to: string, teamNames: Readonly<Record<string, string>>): Promise<LedgerRow[]> => {
    const t = tag(keyId)
    const [days, name] = await Promise.all([redis.smembers(`${t}:days`), redis.hget(`${t}:meta`, 'name')])
    const wanted = days.filter((d) => d >= from && d <= to)
    const hashes = await Promise.all(wanted.map((d) => redis.hgetall(`${t}:d:${d}`)))
    return hashes.flatMap((h, i) => parseDay(keyId, name ?? keyId, wanted[i]!, h, teamNames))
  }

  return {
    async write (rows, batchId) {
      const byKey = new Map<string, LedgerRow[]>()
      for (const row of rows) {
        let list = byKey.get(row.keyId)
        if (list === undefined) byKey.set(row.keyId, list = [])
        list.push(row)
      }
      // Another slot than the per-key keys, so a separate (idempotent) command.
      await redis.sadd(KEYS_INDEX, ...byKey.keys())
      await Promise.all([...byKey].map(([keyId, list]) => apply(...applyArgs(keyId, list, batchId))))
      const teams = teamArgs(rows, batchId)
      if (teams.length === 0) return
      const names: Record<string, string> = {}
      for (const row of rows) if (row.teamId && row.teamName) names[row.teamId] = row.teamName
      if (Object.keys(names).length > 0) await redis.hset(TEAM_NAMES, names)
      await Promise.all(teams.map((args) => applyTeam(...args)))
    },

    async teamSpent (teamId, period, nowMs) {
      const day = utcDay(nowMs)
      const field = period === 'day' ? 'd:' + day : period === 'month' ? 'm:' + day.slice(0, 7) : 't'
      return Number(await redis.hget(`${teamTag(teamId)}:sum`, field) ?? 0)
    },

    async spent (keyId, period, nowMs) {
      const day = utcDay(nowMs)
      const field = period === 'day' ? 'd:' + day : period === 'month' ? 'm:' + day.slice(0, 7) : 't'
      return Number(await redis.hget(`${tag(keyId)}:sum`, field) ?? 0)
    },

    async rows (from, to) {
      const [ids, teamNames] = await Promise.all([redis.smembers(KEYS_INDEX), redis.hgetall(TEAM_NAMES)])
      const out: LedgerRow[] = []
      // A few keys at a time: bounded concurrency against Redis.
      for (let i = 0; i < ids.length; i += 32) {
        for (const rows of await Promise.all(ids.slice(i, i + 32).map((id) => keyRows(id, from, to, teamNames)))) out.push(...rows)
      }
      return out
    }
  }
}
