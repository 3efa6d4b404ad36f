import { Redis, Cluster, type RedisOptions } from 'ioredis'
import type { GatewayConfig } from '../config/schema.js'

/** A single Redis or a Redis Cluster: both take the same commands, Lua scripts and pub/sub. */
export type RedisClient = Redis | Cluster

/**
 * Opens the Redis connection the config asks for, or returns undefined for the embedded
 * store. Commands time out after REDIS_COMMAND_TIMEOUT_MS and are not queued while the
 * connection is down, so the request path fails fast (and the features fail open or
 * closed) instead of hanging on Redis.
 * @example const redis = createRedis(config) // undefined when neither REDIS_URL nor REDIS_CLUSTER_NODES is set
 */
export function createRedis (config: GatewayConfig, name = 'gateway'): RedisClient | undefined {
  const options: RedisOptions = {
    connectionName: `comet-${name}`,
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    // Reconnect forever, backing off to 1 s: a Redis restart must not need a gateway restart.
    retryStrategy: (times) => Math.min(times * 50, 1000),
    lazyConnect: false
  }
  if (config.REDIS_CLUSTER_NODES) {
    const nodes = config.REDIS_CLUSTER_NODES.split(',').map((hp) => {
      const i = hp.lastIndexOf(':')
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) }
    })
    return new Cluster(nodes, {
      redisOptions: options,
      enableOfflineQueue: false,
      clusterRetryStrategy: (times) => Math.min(times * 50, 1000),
      slotsRefreshTimeout: 2000
    })
  }
  // Commands issued in one event-loop turn go out in one write: every request's admission
  // and settlement otherwise cost a socket write(2) each (bench/README.md). Single node only:
  // ioredis refuses an auto-pipeline whose keys span slots, as a key's and its team's do.
  if (config.REDIS_URL) return new Redis(config.REDIS_URL, { ...options, enableAutoPipelining: true })
  return undefined
}

/** Waits until the client is ready (start-up only), failing after `timeoutMs`. */
export async function redisReady (client: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`Redis not ready after ${timeoutMs} ms`)) }, timeoutMs)
    const onReady = (): void => { cleanup(); resolve() }
    const cleanup = (): void => { clearTimeout(timer); client.off('ready', onReady) }
    client.on('ready', onReady)
  })
}

/** True when Redis answers PING now (readiness probe). */
export async function redisPing (client: RedisClient): Promise<boolean> {
  try {
    if (client instanceof Cluster) {
      const masters = client.nodes('master')
      if (masters.length === 0) return false
      await Promise.all(masters.map((n) => n.ping()))
      return true
    }
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  }
}
