import type { Exchange } from '../proxy/exchange.js'
import type { RedisClient } from '../store/redis.js'
import { migrate, type SqliteDb } from '../store/sqlite.js'
import { normalizeUsage, type TokenUsage } from './usage.js'

/** Who asked for a background response, so its usage is billed to them when it is known. */
export interface BackgroundOwner {
  readonly keyId: string
  readonly keyName: string
  /** The client's model (before aliases: metering resolves it when billing). */
  readonly model: string
}

/**
 * Background responses (`POST /v1/responses` with `background: true`) answer `queued`
 * with no usage; the usage shows when the response is read back finished
 * (`GET /v1/responses/{id}`, or its `cancel`). The tracker remembers who created each one
 * and hands that owner out once: `claim` is an atomic get-and-delete, so a response read
 * back many times, on any instance, is billed exactly once.
 */
export interface BackgroundTracker {
  remember (responseId: string, owner: BackgroundOwner): Promise<void>
  /** The creator, if the response is still unbilled (not removed). */
  peek (responseId: string): Promise<BackgroundOwner | undefined>
  /** The creator, removed atomically: only one caller ever gets it. */
  claim (responseId: string): Promise<BackgroundOwner | undefined>
}

/** A background response unread after this long is forgotten (and never billed). */
const TTL_SECONDS = 7 * 86_400

const MIGRATIONS = [
  `CREATE TABLE background_responses (
     response_id TEXT PRIMARY KEY,
     key_id TEXT NOT NULL,
     key_name TEXT NOT NULL,
     model TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   )`
]

export function sqliteBackgroundTracker (db: SqliteDb): BackgroundTracker {
  migrate(db, 'background', MIGRATIONS)
  const insert = db.prepare('INSERT OR REPLACE INTO background_responses (response_id, key_id, key_name, model, expires_at) VALUES (?, ?, ?, ?, ?)')
  const take = db.prepare('DELETE FROM background_responses WHERE response_id = ? AND expires_at > ? RETURNING key_id AS keyId, key_name AS keyName, model')
  const get = db.prepare('SELECT key_id AS keyId, key_name AS keyName, model FROM background_responses WHERE response_id = ? AND expires_at > ?')
  const sweep = db.prepare('DELETE FROM background_responses WHERE expires_at <= ?')
  return {
    async remember (id, o) {
      const now = Date.now()
      sweep.run(now)
      insert.run(id, o.keyId, o.keyName, o.model, now + TTL_SECONDS * 1000)
    },
    async peek (id) { return get.get(id, Date.now()) as BackgroundOwner | undefined },
    async claim (id) { return take.get(id, Date.now()) as BackgroundOwner | undefined }
  }
}

export function redisBackgroundTracker (redis: RedisClient): BackgroundTracker {
  const key = (id: string): string => `gw:bg:${id}`
  return {
    async remember (id, o) { await redis.set(key(id), JSON.stringify(o), 'EX', TTL_SECONDS) },
    async peek (id) {
      const v = await redis.get(key(id))
      return v === null ? undefined : JSON.parse(v) as BackgroundOwner
    },
    async claim (id) {
      const v = await redis.getdel(key(id))
      return v === null ? undefined : JSON.parse(v) as BackgroundOwner
    }
  }
}

const TERMINAL = new Set(['completed', 'incomplete', 'failed', 'cancelled'])
const READ = /^\/responses\/([^/?]+)(?:\/cancel)?(?:\?|$)/

function isCreate (ex: Exchange): boolean {
  return ex.route === '/v1/responses' && ex.method === 'POST' && ex.json?.background === true
}

function readId (ex: Exchange): string | undefined {
  const reading = (ex.route === '/v1/responses/{id}' && ex.method === 'GET') || (ex.route === '/v1/responses/{id}/cancel' && ex.method === 'POST')
  return reading ? READ.exec(ex.upstreamPath)?.[1] : undefined
}

function parse (body: Buffer): { id?: unknown, status?: unknown, usage?: unknown } | undefined {
  try {
    return JSON.parse(body.toString('utf8')) as { id?: unknown, status?: unknown, usage?: unknown }
  } catch {
    return undefined
  }
}

/** How `settle` ended: a new response remembered, or a claim won (`owner`) or lost. */
export type Settled = { readonly kind: 'remember' } | { readonly kind: 'claim', readonly owner: BackgroundOwner | undefined }

/**
 * The metering stage's part for background responses, per exchange:
 * - `lookup` (before): a read of a response this gateway created looks up its creator;
 * - `inspect` (beforeSend): a finished read of such a response gives the usage to bill
 *   (and price in the header); a create that answered unfinished is noted;
 * - `settle` (after): remembers a new one, or claims a finished one (once, on any
 *   instance) and resolves to the creator to bill, or undefined when another read won.
 */
export class BackgroundBilling {
  private readonly owners = new WeakMap<Exchange, BackgroundOwner>()
  private readonly pending = new WeakMap<Exchange, { kind: 'remember' | 'claim', id: string }>()

  constructor (private readonly tracker: BackgroundTracker) {}

  lookup (ex: Exchange): Promise<void> | undefined {
    const id = readId(ex)
    if (id === undefined) return undefined
    // A store failure leaves the response unbilled for now: a later read claims it.
    return this.tracker.peek(id).then((owner) => { if (owner !== undefined) this.owners.set(ex, owner) }, () => {})
  }

  inspect (ex: Exchange): { owner: BackgroundOwner, usage: TokenUsage } | undefined {
    if (ex.status >= 300 || ex.responseBody === undefined) return undefined
    const owner = this.owners.get(ex)
    if (owner === undefined && !isCreate(ex)) return undefined
    const body = parse(ex.responseBody)
    if (typeof body?.id !== 'string') return undefined
    const done = typeof body.status === 'string' && TERMINAL.has(body.status)
    if (owner === undefined) {
      if (!done) this.pending.set(ex, { kind: 'remember', id: body.id })
      return undefined
    }
    const usage = done ? normalizeUsage(body.usage) : undefined
    if (usage === undefined) return undefined
    this.pending.set(ex, { kind: 'claim', id: body.id })
    return { owner, usage }
  }

  settle (ex: Exchange): Promise<Settled> | undefined {
    const step = this.pending.get(ex)
    if (step === undefined) return undefined
    if (step.kind === 'claim') return this.tracker.claim(step.id).then((owner) => ({ kind: 'claim', owner }))
    return this.tracker.remember(step.id, { keyId: ex.key.id, keyName: ex.key.name, model: ex.model ?? 'unknown' }).then(() => ({ kind: 'remember' }))
  }
}
