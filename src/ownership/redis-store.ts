import type { TokenUsage } from '../metering/usage.js'
import { redisPing, type RedisClient } from '../store/redis.js'
import { checkLookupSize, MAX_LIST, ownedObjectSchema, type OwnedObject, type OwnerQuery, type OwnershipStore } from './store.js'

/**
 * Layout: everything under the one hash tag `{gw:objects}`, so in a Cluster the record
 * and its owner indexes sit in one slot and one Lua script writes them together, and a
 * lookup of many ids is one HMGET.
 *
 *   {gw:objects}:owners       HASH  object id → OwnedObject JSON
 *   {gw:objects}:key:<id>     ZSET  created_at → object id   (a key's objects)
 *   {gw:objects}:team:<id>    ZSET  created_at → object id   (a team's objects)
 *   {gw:objects}:age:<coll>   ZSET  created_at → object id   (a collection's objects, for pruning)
 *   {gw:objects}:billed       HASH  batch id → "input,cached,output,reasoning"
 */
const PREFIX = '{gw:objects}:'
const OWNERS = PREFIX + 'owners'
const BILLED = PREFIX + 'billed'

/**
 * KEYS: owners, key index, team index, age index; ARGV: id, json, created_at, '1' when
 * the object has a team. First owner wins.
 */
const RECORD = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] == '1' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]) end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return 1`

/** KEYS as RECORD; ARGV: id, the JSON read before. Drops the record and its index entries unless it changed. */
const REMOVE = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1`

/** ARGV: batch id, seen input, cached, output, reasoning. Returns the rise per class. */
const RAISE = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
local b = {0, 0, 0, 0}
if old then
  local i = 1
  for n in string.gmatch(old, '[^,]+') do b[i] = tonumber(n); i = i + 1 end
end
local up = {}
local top = {}
local rose = false
for i = 1, 4 do
  local s = tonumber(ARGV[i + 1])
  if s > b[i] then up[i] = s - b[i]; top[i] = s; rose = true else up[i] = 0; top[i] = b[i] end
end
if rose then redis.call('HSET', KEYS[1], ARGV[1], table.concat(top, ',')) end
return up`

const keyIndex = (keyId: string): string => PREFIX + 'key:' + keyId
const ageIndex = (collection: string): string => PREFIX + 'age:' + collection
/** A team's index; objects without a team name a placeholder that is never written. */
const teamIndex = (teamId: string | null): string => PREFIX + (teamId === null ? 'noteam' : 'team:' + teamId)

type Commands = {
  ownedRecord (owners: string, keyIndex: string, teamIndex: string, ageIndex: string, id: string, json: string, createdAt: number, hasTeam: string): Promise<number>
  ownedRemove (owners: string, keyIndex: string, teamIndex: string, ageIndex: string, id: string, json: string): Promise<number>
  ownedRaise (billed: string, batchId: string, input: number, cached: number, output: number, reasoning: number): Promise<number[]>
}

function parse (json: string): OwnedObject | undefined {
  try {
    return ownedObjectSchema.parse(JSON.parse(json))
  } catch {
    return undefined
  }
}

/** Ids per HMGET: large list pages are split so no single reply grows without bound. */
const CHUNK = 1000

/**
 * The Redis ownership store (single node or Cluster), on the shared client: lookups are
 * on the request path and take its command timeout.
 * @example const store = createRedisOwnershipStore(ctx.redis)
 */
export function createRedisOwnershipStore (redis: RedisClient): OwnershipStore {
  redis.defineCommand('ownedRecord', { numberOfKeys: 4, lua: RECORD })
  redis.defineCommand('ownedRemove', { numberOfKeys: 4, lua: REMOVE })
  redis.defineCommand('ownedRaise', { numberOfKeys: 1, lua: RAISE })
  const commands = redis as unknown as Commands

  return {
    kind: 'redis',

    async record (objects) {
      // Sent together (ioredis writes them back to back); durable once all answered.
      await Promise.all(objects.map((o) => commands.ownedRecord(OWNERS, keyIndex(o.ownerKeyId), teamIndex(o.ownerTeamId), ageIndex(o.collection), o.id, JSON.stringify(o), o.createdAt, o.ownerTeamId === null ? '0' : '1')))
    },

    async lookup (ids) {
      checkLookupSize(ids)
      const out = new Map<string, OwnedObject>()
      const unique = [...new Set(ids)]
      for (let i = 0; i < unique.length; i += CHUNK) {
        const part = unique.slice(i, i + CHUNK)
        const values = await redis.hmget(OWNERS, ...part)
        for (let j = 0; j < part.length; j++) {
          const v = values[j]
          const o = v === null || v === undefined ? undefined : parse(v)
          if (o !== undefined) out.set(part[j]!, o)
        }
      }
      return out
    },

    async listByOwner (q: OwnerQuery) {
      const limit = Math.max(0, Math.min(q.limit, MAX_LIST))
      if (limit === 0) return []
      const max = q.before === undefined ? '+inf' : '(' + q.before
      const indexes = [keyIndex(q.keyId)]
      if (q.teamId !== undefined && q.teamId !== null) indexes.push(teamIndex(q.teamId))
      const ids = new Set<string>()
      for (const index of indexes) {
        // Filtered by collection after the read: ask for more than the limit when filtering.
        const n = q.collection === undefined ? limit : MAX_LIST * 4
        for (const id of await redis.zrevrangebyscore(index, max, '-inf', 'LIMIT', 0, n)) ids.add(id)
      }
      const found = await this.lookup([...ids])
      return [...found.values()]
        .filter((o) => q.collection === undefined || o.collection === q.collection)
        .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .slice(0, limit)
    },

    async remove (id) {
      const json = await redis.hget(OWNERS, id)
      const o = json === null ? undefined : parse(json)
      if (json === null || o === undefined) return
      await commands.ownedRemove(OWNERS, keyIndex(o.ownerKeyId), teamIndex(o.ownerTeamId), ageIndex(o.collection), id, json)
    },

    async prune (collection, before, limit) {
      const ids = await redis.zrangebyscore(ageIndex(collection), '-inf', '(' + before, 'LIMIT', 0, Math.min(limit, MAX_LIST))
      for (const id of ids) await this.remove(id)
      return ids.length
    },

    async raiseBilled (batchId, seen: TokenUsage) {
      const [input = 0, cached = 0, output = 0, reasoning = 0] = await commands.ownedRaise(BILLED, batchId, seen.input, seen.cached, seen.output, seen.reasoning)
      return { input: Number(input), cached: Number(cached), output: Number(output), reasoning: Number(reasoning) }
    },

    ready: () => redisPing(redis),
    async close () {}
  }
}
