import type { Logger } from 'pino'
import { gatewayError } from '../errors.js'
import type { RedisClient } from '../store/redis.js'
import { openChangeConnections, RedisChangeStore, type ChangeConnections } from '../store/redis-changes.js'
import { hashKey, keyRecordSchema, type KeyRecord } from './key-record.js'
import { applyPatch, buildRecord, generateSecret, keyPrefix, type FoundKey, type KeyChange, type KeyPatch, type KeyStore, type NewKey } from './key-store.js'

/**
 * Layout: every key lives under the one hash tag `{gw:keys}`, so in a Cluster all three
 * hashes sit in one slot and a Lua script may touch them together.
 *
 *   {gw:keys}:records  HASH  id   → record JSON
 *   {gw:keys}:byhash   HASH  sha256(secret) → id
 *   {gw:keys}:names    HASH  name → id        (keys not revoked only: names are unique among them)
 *   {gw:keys}:grace    HASH  sha256(old secret) → `id|until ms`  (rotated keys' old secrets in their grace period)
 *   {gw:keys}:hashof   HASH  id → sha256(current secret)          (what a rotation replaces)
 *
 * Changes are announced on the pub/sub channel `gw:keys:changed` as `kind:id`.
 */
const RECORDS = '{gw:keys}:records'
const BY_HASH = '{gw:keys}:byhash'
const NAMES = '{gw:keys}:names'
const GRACE = '{gw:keys}:grace'
const HASH_OF = '{gw:keys}:hashof'
export const KEYS_CHANNEL = 'gw:keys:changed'

/** Claims the name, then writes the record and its hash index: all or nothing. */
const CREATE = `
if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
return 1`

/**
 * Compare-and-set of one record: ARGV id, expected JSON, new JSON, old name, new name
 * ('' when the key no longer holds a name: revoked). -1 = changed meanwhile, 0 = name taken.
 */
const REPLACE = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
if ARGV[5] ~= '' and ARGV[5] ~= ARGV[4] then
  if redis.call('HSETNX', KEYS[3], ARGV[5], ARGV[1]) == 0 then return 0 end
end
if ARGV[4] ~= ARGV[5] and redis.call('HGET', KEYS[3], ARGV[4]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[4]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`

/**
 * One round trip from a secret's hash to its record: the current secret's, else an old
 * secret's still in its grace period (ARGV now ms). Answers {record JSON, until ms or ''}.
 */
const FIND = `
local id = redis.call('HGET', KEYS[2], ARGV[1])
if id then return {redis.call('HGET', KEYS[1], id), ''} end
local g = redis.call('HGET', KEYS[4], ARGV[1])
if not g then return false end
local sep = string.find(g, '|', 1, true)
local exp = string.sub(g, sep + 1)
if tonumber(exp) <= tonumber(ARGV[2]) then return false end
local rec = redis.call('HGET', KEYS[1], string.sub(g, 1, sep - 1))
if not rec then return false end
return {rec, exp}`

/**
 * A new secret for a key: ARGV id, expected JSON, new JSON, new hash, grace until ms (0 =
 * none), now ms. The old hash leaves the index; it is kept in the grace hash when there
 * is a grace period. Earlier grace secrets of the key and expired ones are dropped.
 * -1 = the record changed meanwhile.
 */
const ROTATE = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
local now = tonumber(ARGV[6])
local g = redis.call('HGETALL', KEYS[4])
for i = 1, #g, 2 do
  local sep = string.find(g[i + 1], '|', 1, true)
  if string.sub(g[i + 1], 1, sep - 1) == ARGV[1] or tonumber(string.sub(g[i + 1], sep + 1)) <= now then redis.call('HDEL', KEYS[4], g[i]) end
end
local old = redis.call('HGET', KEYS[5], ARGV[1])
if not old then
  -- A key created before the hashof index: find its hash once.
  local h = redis.call('HGETALL', KEYS[2])
  for i = 1, #h, 2 do if h[i + 1] == ARGV[1] then old = h[i] end end
end
if old then
  redis.call('HDEL', KEYS[2], old)
  if tonumber(ARGV[5]) > 0 then redis.call('HSET', KEYS[4], old, ARGV[1] .. '|' .. ARGV[5]) end
end
redis.call('HSET', KEYS[2], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`

type Commands = {
  keysCreate (a: string, b: string, c: string, d: string, id: string, hash: string, name: string, json: string): Promise<number>
  keysReplace (a: string, b: string, c: string, id: string, expected: string, json: string, oldName: string, newName: string): Promise<number>
  keysFind (a: string, b: string, c: string, d: string, hash: string, nowMs: number): Promise<[string, string] | null>
  keysRotate (a: string, b: string, c: string, d: string, e: string, id: string, expected: string, json: string, hash: string, untilMs: number, nowMs: number): Promise<number>
}

function parse (json: string): KeyRecord {
  return keyRecordSchema.parse(JSON.parse(json))
}

/**
 * The Redis key store (single node or Cluster). Every change is published; a subscriber
 * connection (`redis.duplicate()`) relays other instances' changes to `onChange`, and a
 * re-subscription after a disconnect asks for a full resync since messages may be lost.
 * Lookups stay on the shared client (request-path timeout); admin writes and full lists
 * get their own connection with a patient timeout, so a busy Redis does not answer a
 * create with 503 after the script may already have run.
 * @example const store = await createRedisKeyStore(ctx.redis, ctx.log)
 */
export async function createRedisKeyStore (redis: RedisClient, log: Logger): Promise<KeyStore> {
  const define = (client: RedisClient): void => {
    client.defineCommand('keysCreate', { numberOfKeys: 4, lua: CREATE })
    client.defineCommand('keysReplace', { numberOfKeys: 3, lua: REPLACE })
    client.defineCommand('keysFind', { numberOfKeys: 4, lua: FIND })
    client.defineCommand('keysRotate', { numberOfKeys: 5, lua: ROTATE })
  }
  define(redis)
  return new RedisKeyStore(redis, await openChangeConnections(redis, KEYS_CHANNEL, KINDS, log, 'key', define), log)
}

class RedisKeyStore extends RedisChangeStore<KeyChange> implements KeyStore {
  readonly kind = 'redis'

  constructor (redis: RedisClient, connections: ChangeConnections, log: Logger) {
    super(redis, connections, log, KEYS_CHANNEL, 'key')
  }

  async create (input: NewKey): Promise<{ record: KeyRecord, secret: string }> {
    const secret = generateSecret()
    const record = buildRecord(input, secret)
    const done = await (this.admin as unknown as Commands).keysCreate(RECORDS, BY_HASH, NAMES, HASH_OF, record.id, hashKey(secret), record.name, JSON.stringify(record))
    if (done === 0) throw gatewayError('GW_ERR_KEY_NAME_TAKEN', [input.name], { param: 'name' })
    await this.publish({ id: record.id, kind: 'created' })
    return { record, secret }
  }

  async list (): Promise<KeyRecord[]> {
    const all = Object.values(await this.admin.hgetall(RECORDS)).map(parse)
    return all.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id))
  }

  async get (id: string): Promise<KeyRecord | undefined> {
    const json = await this.admin.hget(RECORDS, id)
    return json === null ? undefined : parse(json)
  }

  async findByHash (hash: string): Promise<FoundKey | undefined> {
    const found = await (this.redis as unknown as Commands).keysFind(RECORDS, BY_HASH, NAMES, GRACE, hash, Date.now())
    if (found === null) return undefined
    const [json, until] = found
    return until === '' ? { record: parse(json) } : { record: parse(json), graceUntil: new Date(Number(until)).toISOString() }
  }

  async rotate (id: string, graceSeconds: number): Promise<{ record: KeyRecord, secret: string }> {
    const secret = generateSecret()
    for (let attempt = 0; ; attempt++) {
      const json = await this.admin.hget(RECORDS, id)
      if (json === null) throw gatewayError('GW_ERR_KEY_NOT_FOUND', [id])
      const current = parse(json)
      if (current.revoked_at !== null) throw gatewayError('GW_ERR_KEY_REVOKED', [id])
      const next = { ...current, key_prefix: keyPrefix(secret) }
      const now = Date.now()
      const until = graceSeconds > 0 ? now + graceSeconds * 1000 : 0
      const done = await (this.admin as unknown as Commands).keysRotate(RECORDS, BY_HASH, NAMES, GRACE, HASH_OF, id, json, JSON.stringify(next), hashKey(secret), until, now)
      if (done === 1) {
        await this.publish({ id, kind: 'rotated' })
        return { record: next, secret }
      }
      if (attempt >= 10) throw new Error(`key ${id} changed concurrently too often`)
    }
  }

  async update (id: string, patch: KeyPatch): Promise<KeyRecord> {
    const next = await this.#replace(id, (r) => {
      if (r.revoked_at !== null) throw gatewayError('GW_ERR_KEY_REVOKED', [id])
      return applyPatch(r, patch)
    })
    await this.publish({ id, kind: 'updated' })
    return next
  }

  async revoke (id: string): Promise<KeyRecord> {
    let changed = false
    const next = await this.#replace(id, (r) => {
      if (r.revoked_at !== null) return undefined
      changed = true
      return { ...r, revoked_at: new Date().toISOString() }
    })
    if (changed) await this.publish({ id, kind: 'revoked' })
    return next
  }

  /** Read, change, compare-and-set; retried when another writer got there first. */
  async #replace (id: string, change: (r: KeyRecord) => KeyRecord | undefined): Promise<KeyRecord> {
    for (let attempt = 0; ; attempt++) {
      const json = await this.admin.hget(RECORDS, id)
      if (json === null) throw gatewayError('GW_ERR_KEY_NOT_FOUND', [id])
      const current = parse(json)
      const next = change(current)
      if (next === undefined) return current
      const newName = next.revoked_at === null ? next.name : ''
      const done = await (this.admin as unknown as Commands).keysReplace(RECORDS, BY_HASH, NAMES, id, json, JSON.stringify(next), current.name, newName)
      if (done === 1) return next
      if (done === 0) throw gatewayError('GW_ERR_KEY_NAME_TAKEN', [next.name], { param: 'name' })
      if (attempt >= 10) throw new Error(`key ${id} changed concurrently too often`)
    }
  }
}

const KINDS = new Set(['created', 'updated', 'revoked', 'rotated'])
