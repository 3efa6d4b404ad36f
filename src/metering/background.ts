import type { GatewayRequest } from '../proxy/interceptor.js'
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

/** The request fields background billing reads. */
type BackgroundRequest = Pick<GatewayRequest, 'route' | 'method' | 'json' | 'path' | 'model'>

function isCreate (req: BackgroundRequest): boolean {
  return req.route === '/v1/responses' && req.method === 'POST' && req.json?.background === true
}

/** The response id of a read (`GET /v1/responses/{id}`, or its `cancel`), else undefined. */
export function backgroundReadId (req: BackgroundRequest): string | undefined {
  const reading = (req.route === '/v1/responses/{id}' && req.method === 'GET') || (req.route === '/v1/responses/{id}/cancel' && req.method === 'POST')
  return reading ? READ.exec(req.path)?.[1] : undefined
}

function parse (body: Buffer): { id?: unknown, status?: unknown, usage?: unknown } | undefined {
  try {
    return JSON.parse(body.toString('utf8')) as { id?: unknown, status?: unknown, usage?: unknown }
  } catch {
    return undefined
  }
}

/** What is left to do once the answer is out: remember a new response, or claim a finished one. */
export interface BackgroundStep { readonly kind: 'remember' | 'claim', readonly id: string }

/** How `settle` ended: a new response remembered, or a claim won (`owner`) or lost. */
export type Settled = { readonly kind: 'remember' } | { readonly kind: 'claim', readonly owner: BackgroundOwner | undefined }

/**
 * Metering's part for background responses; the per-request state stays with metering's
 * handler:
 * - `lookup` (before): a read of a response this gateway created finds its creator;
 * - `inspect` (the buffered answer): a finished read of such a response gives the usage
 *   to bill (and price in the header); a create that answered unfinished is to be remembered;
 * - `settle` (after): remembers a new one, or claims a finished one (once, on any
 *   instance) and resolves to the creator to bill, or undefined when another read won.
 */
export class BackgroundBilling {
  constructor (private readonly tracker: BackgroundTracker) {}

  lookup (id: string): Promise<BackgroundOwner | undefined> {
    // A store failure leaves the response unbilled for now: a later read claims it.
    return this.tracker.peek(id).catch(() => undefined)
  }

  inspect (req: BackgroundRequest, status: number, responseBody: Buffer, owner: BackgroundOwner | undefined): { step: BackgroundStep, usage?: TokenUsage } | undefined {
    if (status >= 300) return undefined
    if (owner === undefined && !isCreate(req)) return undefined
    const body = parse(responseBody)
    if (typeof body?.id !== 'string') return undefined
    const done = typeof body.status === 'string' && TERMINAL.has(body.status)
    if (owner === undefined) return done ? undefined : { step: { kind: 'remember', id: body.id } }
    const usage = done ? normalizeUsage(body.usage) : undefined
    if (usage === undefined) return undefined
    return { step: { kind: 'claim', id: body.id }, usage }
  }

  settle (step: BackgroundStep, creator: { keyId: string, keyName: string, model: string }): Promise<Settled> {
    if (step.kind === 'claim') return this.tracker.claim(step.id).then((owner) => ({ kind: 'claim', owner }))
    return this.tracker.remember(step.id, creator).then(() => ({ kind: 'remember' }))
  }
}
