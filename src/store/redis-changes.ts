import { EventEmitter } from 'node:events'
import { Cluster } from 'ioredis'
import type { Logger } from 'pino'
import { redisPing, redisReady, type RedisClient } from './redis.js'

/** Milliseconds an admin write may take (the request path keeps REDIS_COMMAND_TIMEOUT_MS). */
export const ADMIN_TIMEOUT_MS = 10_000

/** Another connection like `redis` with a different command timeout (admin writes, full lists). */
export function withTimeout (redis: RedisClient, commandTimeout: number): RedisClient {
  if (redis instanceof Cluster) return redis.duplicate([], { redisOptions: { ...redis.options.redisOptions, commandTimeout } })
  return redis.duplicate({ commandTimeout })
}

/**
 * A subscriber connection for one change channel whose messages are `kind:id`: other
 * instances' changes are emitted as `change` `{ id, kind }`; a re-subscription after a
 * disconnect emits `resync`, since what was published meanwhile is lost.
 * @example const sub = await subscribeChanges(redis, 'gw:teams:changed', new Set(['created']), log, events, 'team')
 */
export async function subscribeChanges (redis: RedisClient, channel: string, kinds: ReadonlySet<string>, log: Logger, events: EventEmitter, what: string): Promise<RedisClient> {
  const sub = redis.duplicate()
  let warned = 0
  sub.on('error', (err: Error) => {
    if (Date.now() - warned > 10_000) log.warn({ err: err.message }, `${what} change subscriber: redis unreachable`)
    warned = Date.now()
  })
  sub.on('message', (_channel: string, message: string) => {
    const i = message.indexOf(':')
    const kind = message.slice(0, i)
    if (i > 0 && kinds.has(kind)) events.emit('change', { id: message.slice(i + 1), kind })
  })
  try {
    await redisReady(sub)
    await sub.subscribe(channel)
  } catch (err) {
    sub.disconnect()
    throw err
  }
  sub.on('ready', () => { events.emit('resync') })
  return sub
}

/** What a Redis-backed admin store opens besides the shared client. */
export interface ChangeConnections {
  /** Writes and full lists, with the patient ADMIN_TIMEOUT_MS. */
  readonly admin: RedisClient
  readonly subscriber: RedisClient
  readonly events: EventEmitter
}

/**
 * Opens a store's admin connection (its scripts defined by `define`) and its change
 * subscriber; on failure nothing stays open.
 */
export async function openChangeConnections (redis: RedisClient, channel: string, kinds: ReadonlySet<string>, log: Logger, what: string, define: (admin: RedisClient) => void): Promise<ChangeConnections> {
  const admin = withTimeout(redis, ADMIN_TIMEOUT_MS)
  admin.on('error', () => {}) // the shared client and the subscriber already report outages
  define(admin)
  const events = new EventEmitter()
  try {
    await redisReady(admin)
    return { admin, subscriber: await subscribeChanges(redis, channel, kinds, log, events, what), events }
  } catch (err) {
    admin.disconnect()
    throw err
  }
}

/**
 * The change feed every Redis admin store shares: a change is emitted here at once and
 * published for the other instances (a lost publish only delays them to their next
 * refresh); readiness and closing of the store's connections.
 */
export abstract class RedisChangeStore<C extends { readonly id: string, readonly kind: string }> {
  protected readonly admin: RedisClient
  private readonly subscriber: RedisClient
  private readonly events: EventEmitter

  constructor (
    protected readonly redis: RedisClient,
    connections: ChangeConnections,
    protected readonly log: Logger,
    private readonly channel: string,
    private readonly what: string
  ) {
    this.admin = connections.admin
    this.subscriber = connections.subscriber
    this.events = connections.events
  }

  protected async publish (change: C): Promise<void> {
    this.events.emit('change', change)
    await this.admin.publish(this.channel, `${change.kind}:${change.id}`).catch((err: Error) => {
      this.log.warn({ err: err.message, id: change.id }, `${this.what} change not published: other instances see it at their next refresh`)
    })
  }

  onChange (listener: (change: C) => void): () => void {
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
