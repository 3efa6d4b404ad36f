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

type ApplyCommand = (...args: Array<string | number>) => Promise<number>

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
    for (const c of COUNTERS) if (row[c] !== 0) pairs.push(`${row.model}:${FIELD[c]}`, String(row[c]))
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
function parseDay (keyId: string, keyName: string, day: string, hash: Record<string, string>): LedgerRow[] {
  const rows = new Map<string, LedgerRow>()
  for (const [field, value] of Object.entries(hash)) {
    const at = field.lastIndexOf(':')
    const counter = COUNTER_OF.get(field.slice(at + 1))
    if (at <= 0 || counter === undefined) continue
    const model = field.slice(0, at)
    let row = rows.get(model)
    if (row === undefined) rows.set(model, row = emptyRow(keyId, keyName, model, day))
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
  const apply = (redis as unknown as { spendApply: ApplyCommand }).spendApply.bind(redis)

  const keyRows = async (keyId: string, from: string, to: string): Promise<LedgerRow[]> => {
    const t = tag(keyId)
    const [days, name] = await Promise.all([redis.smembers(`${t}:days`), redis.hget(`${t}:meta`, 'name')])
    const wanted = days.filter((d) => d >= from && d <= to)
    const hashes = await Promise.all(wanted.map((d) => redis.hgetall(`${t}:d:${d}`)))
    return hashes.flatMap((h, i) => parseDay(keyId, name ?? keyId, wanted[i]!, h))
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
    },

    async spent (keyId, period, nowMs) {
      const day = utcDay(nowMs)
      const field = period === 'day' ? 'd:' + day : period === 'month' ? 'm:' + day.slice(0, 7) : 't'
      return Number(await redis.hget(`${tag(keyId)}:sum`, field) ?? 0)
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
