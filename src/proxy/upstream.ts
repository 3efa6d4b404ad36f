import { Pool } from 'undici'
import type { GatewayConfig } from '../config/schema.js'

/**
 * The upstream (CometAPI or any OpenAI-compatible API): the only place undici is
 * configured. One keep-alive Pool per origin; the base path (`/v1`) is kept apart so
 * client paths below `/v1` map onto it.
 */
export interface Upstream {
  readonly pool: Pool
  /** Base path of UPSTREAM_BASE_URL without a trailing slash, e.g. `/v1`. */
  readonly basePath: string
  /** `Bearer <upstream key>`, or undefined when no key is configured. */
  readonly authorization: string | undefined
  readonly headersTimeoutMs: number
  readonly bodyTimeoutMs: number
  close (): Promise<void>
}

/** @example const upstream = createUpstream(config) */
export function createUpstream (config: GatewayConfig): Upstream {
  const url = new URL(config.UPSTREAM_BASE_URL)
  const pool = new Pool(url.origin, {
    connections: config.UPSTREAM_CONNECTIONS,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connectTimeout: config.UPSTREAM_CONNECT_TIMEOUT_MS,
    headersTimeout: config.UPSTREAM_TIMEOUT_MS,
    bodyTimeout: config.UPSTREAM_BODY_TIMEOUT_MS
  })
  return {
    pool,
    basePath: url.pathname.replace(/\/+$/, ''),
    authorization: config.UPSTREAM_API_KEY !== undefined ? `Bearer ${config.UPSTREAM_API_KEY}` : undefined,
    headersTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
    bodyTimeoutMs: config.UPSTREAM_BODY_TIMEOUT_MS,
    close: () => pool.close()
  }
}
