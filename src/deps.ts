import type { Logger } from 'pino'
import type { GatewayConfig } from './config/schema.js'
import type { GatewayDeps } from './app.js'
import type { Feature, FeatureContext } from './feature.js'
import { createMetrics } from './metrics/metrics.js'
import { createUpstreamSet } from './upstreams/upstreams.js'
import { createKeysFeature } from './auth/feature.js'
import { createAccessFeature } from './access/feature.js'
import { createTeamsFeature, openTeams } from './teams/feature.js'
import { createRateLimitFeature } from './ratelimit/feature.js'
import { createCacheFeature } from './cache/feature.js'
import { createMeteringFeature } from './metering/feature.js'
import { createOwnershipFeature } from './ownership/feature.js'
import { createTracingFeature } from './tracing/feature.js'
import { createRedis, redisPing, redisReady, type RedisClient } from './store/redis.js'
import { openSqlite } from './store/sqlite.js'

/**
 * Creates every connection and store the config asks for, once: Redis (or Cluster) when
 * configured, else the embedded SQLite store under DATA_DIR. Called by main.ts, the
 * demo, the benchmarks and the tests; buildApp itself never connects anything.
 */
export async function createDeps (config: GatewayConfig, log: Logger, overrides: { metrics?: ReturnType<typeof createMetrics> } = {}): Promise<GatewayDeps> {
  const metrics = overrides.metrics ?? createMetrics()
  const redis = createRedis(config)
  if (redis !== undefined) {
    redis.on('error', redisErrorLogger(log))
    await redisReady(redis)
  }
  const sqlite = redis === undefined ? openSqlite(config.DATA_DIR) : undefined
  const ctx: FeatureContext = { config, log, metrics, redis, sqlite }

  // The features, found by name: app.ts places their interceptors on the request path.
  // Teams first: the key resolver reads each key's team from their in-process directory.
  const teams = await openTeams(ctx)
  const keys = await createKeysFeature(ctx, { teams: teams.directory, audit: teams.audit })
  // Metering is built before limits: budgets read its spend ledger.
  const metering = createMeteringFeature(ctx, { teamName: (id) => teams.directory.get(id)?.name })
  const features: Feature[] = [createAccessFeature(ctx), keys, createTeamsFeature(ctx, teams, { keys: keys.store, resolver: keys.resolver, ledger: metering.ledger }), createRateLimitFeature(ctx, metering.ledger), metering, createCacheFeature(ctx)]
  // Batches read back are billed through metering (ledger and meters), at batch prices.
  features.push(createOwnershipFeature(ctx, { prices: metering.prices, onRecord: metering.record }))
  const tracing = createTracingFeature(ctx)
  if (tracing !== undefined) features.push(tracing)
  // Shared connections close last: features close in reverse order, so they go first.
  if (redis !== undefined) features.unshift(redisFeature(redis))
  if (sqlite !== undefined) features.unshift({ name: 'sqlite', close: async () => { sqlite.close() } })

  return {
    log,
    upstreams: createUpstreamSet(config, metrics),
    keys: keys.resolver,
    metrics,
    features,
    modelLabel: metering.modelLabel,
    meterTokens: metering.meterTokens
  }
}

/** Readiness and shutdown of the shared Redis connection (closed last: features close first). */
function redisFeature (redis: RedisClient): Feature {
  return {
    name: 'redis',
    ready: () => redisPing(redis),
    close: async () => { await redis.quit().catch(() => redis.disconnect()) }
  }
}

/** Logs Redis connection errors once per outage instead of once per retry. */
function redisErrorLogger (log: Logger): (err: Error) => void {
  let last = 0
  return (err) => {
    const now = Date.now()
    if (now - last > 10_000) log.warn({ err: err.message }, 'redis unreachable')
    last = now
  }
}
