import type { EventEmitter } from 'node:events'
import { Cluster } from 'ioredis'
import type { Logger } from 'pino'
import { redisReady, type RedisClient } from './redis.js'

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
