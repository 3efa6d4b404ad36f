import { randomBytes } from 'node:crypto'
import type { RedisClient } from '../store/redis.js'

/** Every fill lock's Redis key starts with this; the rest is the cache key. */
export const LOCK_KEY_PREFIX = 'comet:cache:lock:'

/** Deletes the lock only if it is still ours (it may have expired and been taken since). */
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

/**
 * A short Redis lock that says "an instance is fetching this answer now", so identical
 * requests on other gateway instances wait for its entry instead of going upstream too.
 * One key per cache key (fine on a Cluster). Any Redis failure reads as "not locked": the
 * request then goes upstream itself, as it would without the lock.
 */
export interface FillLock {
  /** A token when this request may fetch (the lock is now its own, or Redis failed), undefined when another instance holds it. */
  acquire (key: string): Promise<string | undefined>
  /** True while another instance holds the lock (false on Redis failure). */
  held (key: string): Promise<boolean>
  release (key: string, token: string): Promise<void>
}

/**
 * The fill lock on Redis: `SET … NX PX lockMs`, released by compare-and-delete.
 * @example const token = await redisFillLock(redis, 30_000).acquire(key) // undefined: another instance is fetching
 */
export function redisFillLock (redis: RedisClient, lockMs: number): FillLock {
  return {
    async acquire (key) {
      const token = randomBytes(9).toString('base64url')
      try {
        const ok = await redis.set(LOCK_KEY_PREFIX + key, token, 'PX', lockMs, 'NX')
        return ok === 'OK' ? token : undefined
      } catch {
        return token
      }
    },
    async held (key) {
      try {
        return (await redis.exists(LOCK_KEY_PREFIX + key)) === 1
      } catch {
        return false
      }
    },
    async release (key, token) {
      try {
        await redis.eval(RELEASE, 1, LOCK_KEY_PREFIX + key, token)
      } catch {
        // It expires by itself.
      }
    }
  }
}
