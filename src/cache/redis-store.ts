import type { RedisClient } from '../store/redis.js'
import type { CacheStore } from './store.js'

/** Every cache entry's Redis key starts with this (one key per entry: fine on a Cluster). */
export const CACHE_KEY_PREFIX = 'comet:cache:'

/**
 * Cache entries in Redis (single node or Cluster) as binary strings with `SET … EX`, so
 * Redis expires them and every gateway instance shares them. Commands fail fast when
 * Redis is down (the client has no offline queue and a command timeout): the caller
 * sees a rejection and serves a miss.
 * @example const store = ctx.redis !== undefined ? redisStore(ctx.redis) : memoryStore(bytes)
 */
export function redisStore (redis: RedisClient): CacheStore {
  return {
    kind: 'redis',
    async get (key) {
      const value = await redis.getBuffer(CACHE_KEY_PREFIX + key)
      return value ?? undefined
    },
    async set (key, value, ttlSeconds) {
      await redis.set(CACHE_KEY_PREFIX + key, value, 'EX', ttlSeconds)
    }
  }
}
