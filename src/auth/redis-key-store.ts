import { EventEmitter } from 'node:events'
import { Cluster } from 'ioredis'
import type { Logger } from 'pino'
import { gatewayError } from '../errors.js'
import { redisPing, redisReady, type RedisClient } from '../store/redis.js'
import { hashKey, keyRecordSchema, type KeyRecord } from './key-record.js'
import { applyPatch, buildRecord, generateSecret, type KeyChange, type KeyPatch, type KeyStore, type NewKey } from './key-store.js'

/**
 * Layout: every key lives under the one hash tag `{gw:keys}`, so in a Cluster all three
 * hashes sit in one slot and a Lua script may touch them together.
 *
 *   {gw:keys}:records  HASH  id   → record JSON
 *   {gw:keys}:byhash   HASH  sha256(secret) → id
 *   {gw:keys}:names    HASH  name → id        (keys not revoked only: names are unique among them)
 *
 * Changes are announced on the pub/sub channel `gw:keys:changed` as `kind:id`.
 */
const RECORDS = '{gw:keys}:records'
const BY_HASH = '{gw:keys}:byhash'
const NAMES = '{gw:keys}:names'
export const KEYS_CHANNEL = 'gw:keys:changed'

/** Claims the name, then writes the record and its hash index: all or nothing. */
const CREATE = `
if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
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

/** One round trip from a secret's hash to its record. */
const FIND = `
local id = redis.call('HGET', KEYS[2], ARGV[1])
if not id then return false end
return redis.call('HGET', KEYS[1], id)`

type Commands = {
  keysCreate (a: string, b: string, c: string, id: string, hash: string, name: string, json: string): Promise<number>
  keysReplace (a: string, b: string, c: string, id: string, expected: string, json: string, oldName: string, newName: string): Promise<number>
  keysFind (a: string, b: string, c: string, hash: string): Promise<string | null>
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
  const admin = withTimeout(redis, ADMIN_TIMEOUT_MS)
  admin.on('error', () => {}) // the shared client and the subscriber already report outages
  for (const client of [redis, admin]) {
    client.defineCommand('keysCreate', { numberOfKeys: 3, lua: CREATE })
    client.defineCommand('keysReplace', { numberOfKeys: 3, lua: REPLACE })
    client.defineCommand('keysFind', { numberOfKeys: 3, lua: FIND })
  }
  const events = new EventEmitter()
  try {
    await redisReady(admin)
    return new RedisKeyStore(redis, admin, await subscribe(redis, log, events), events, log)
  } catch (err) {
    admin.disconnect()
    throw err
  }
}

class RedisKeyStore implements KeyStore {
  readonly kind = 'redis'

  constructor (
    private readonly redis: RedisClient,
    private readonly admin: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly events: EventEmitter,
    private readonly log: Logger
  ) {}

  async create (input: NewKey): Promise<{ record: KeyRecord, secret: string }> {
    const secret = generateSecret()
    const record = buildRecord(input, secret)
    const done = await (this.admin as unknown as Commands).keysCreate(RECORDS, BY_HASH, NAMES, record.id, hashKey(secret), record.name, JSON.stringify(record))
    if (done === 0) throw gatewayError('GW_ERR_KEY_NAME_TAKEN', [input.name], { param: 'name' })
    await this.#publish({ id: record.id, kind: 'created' })
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

  async findByHash (hash: string): Promise<KeyRecord | undefined> {
    const json = await (this.redis as unknown as Commands).keysFind(RECORDS, BY_HASH, NAMES, hash)
    return json === null ? undefined : parse(json)
  }

  async update (id: string, patch: KeyPatch): Promise<KeyRecord> {
    const next = await this.#replace(id, (r) => {
      if (r.revoked_at !== null) throw gatewayError('GW_ERR_KEY_REVOKED', [id])
      return applyPatch(r, patch)
    })
    await this.#publish({ id, kind: 'updated' })
    return next
  }

  async revoke (id: string): Promise<KeyRecord> {
    let changed = false
    const next = await this.#replace(id, (r) => {
      if (r.revoked_at !== null) return undefined
      changed = true
      return { ...r, revoked_at: new Date().toISOString() }
    })
    if (changed) await this.#publish({ id, kind: 'revoked' })
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

  async #publish (change: KeyChange): Promise<void> {
    this.events.emit('change', change)
    await this.admin.publish(KEYS_CHANNEL, `${change.kind}:${change.id}`).catch((err: Error) => {
      this.log.warn({ err: err.message, id: change.id }, 'key change not published: other instances see it at their next refresh')
    })
  }

  onChange (listener: (change: KeyChange) => void): () => void {
    this.events.on('change', listener)
    return () => { this.events.off('change', listener) }
  }

  onResync (listener: () => void): () => void {
    this.events.on('resync', listener)
    return () => { this.events.off('resync', listener) }
  }

  ready (): Promise<boolean> {
    return redisPing(this.redis)
  }

  async close (): Promise<void> {
    this.events.removeAllListeners()
    await this.subscriber.quit().catch(() => this.subscriber.disconnect())
    await this.admin.quit().catch(() => this.admin.disconnect())
  }
}

/** Milliseconds an admin write may take (the request path keeps REDIS_COMMAND_TIMEOUT_MS). */
const ADMIN_TIMEOUT_MS = 10_000

/** Another connection like `redis` with a different command timeout. */
function withTimeout (redis: RedisClient, commandTimeout: number): RedisClient {
  if (redis instanceof Cluster) return redis.duplicate([], { redisOptions: { ...redis.options.redisOptions, commandTimeout } })
  return redis.duplicate({ commandTimeout })
}

const KINDS = new Set(['created', 'updated', 'revoked'])

/** The subscriber connection: other instances' changes → `change`; reconnects → `resync`. */
async function subscribe (redis: RedisClient, log: Logger, events: EventEmitter): Promise<RedisClient> {
  const sub = redis.duplicate()
  let warned = 0
  sub.on('error', (err: Error) => {
    if (Date.now() - warned > 10_000) log.warn({ err: err.message }, 'key change subscriber: redis unreachable')
    warned = Date.now()
  })
  sub.on('message', (_channel: string, message: string) => {
    const i = message.indexOf(':')
    const kind = message.slice(0, i)
    if (i > 0 && KINDS.has(kind)) events.emit('change', { id: message.slice(i + 1), kind } as KeyChange)
  })
  try {
    await redisReady(sub)
    await sub.subscribe(KEYS_CHANNEL)
  } catch (err) {
    sub.disconnect()
    throw err
  }
  // ioredis re-subscribes by itself after a reconnect; what was published meanwhile is lost.
  sub.on('ready', () => { events.emit('resync') })
  return sub
}
