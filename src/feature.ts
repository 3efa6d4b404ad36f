import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { KeyPrincipal } from './auth/principal.js'
import type { GatewayConfig } from './config/schema.js'
import type { Metrics } from './metrics/metrics.js'
import type { Interceptor } from './proxy/interceptor.js'
import type { RedisClient } from './store/redis.js'
import type { SqliteDb } from './store/sqlite.js'

/**
 * What a feature folder (keys, limits, metering, cache, …) gives the app. `deps.ts` builds
 * the features once at start-up; `app.ts` composes their interceptors in the one order
 * written there; the relay sees only the protocol of proxy/interceptor.ts.
 */
export interface Feature {
  readonly name: string
  /** Its place on the request path (see proxy/interceptor.ts); app.ts decides where. */
  readonly interceptor?: Interceptor<KeyPrincipal>
  /** Routes under /admin, behind the admin key (JSON bodies parsed). */
  readonly adminRoutes?: (admin: FastifyInstance) => Promise<void>
  /** Routes of its own outside /admin, each set in its own context with its own auth hook. */
  readonly routes?: ReadonlyArray<(app: FastifyInstance) => Promise<void>>
  /** True when the feature's store answers (for /readyz). */
  ready? (): Promise<boolean>
  /** Flush buffered state and close connections (shutdown; after the drain). */
  close? (): Promise<void>
}

/** What a feature factory may use: built once by deps.ts from the config. */
export interface FeatureContext {
  readonly config: GatewayConfig
  readonly log: Logger
  readonly metrics: Metrics
  /** Set when REDIS_URL or REDIS_CLUSTER_NODES is configured. */
  readonly redis: RedisClient | undefined
  /** Set for the embedded store (no Redis). */
  readonly sqlite: SqliteDb | undefined
}
