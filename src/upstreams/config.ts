import type { GatewayConfig } from '../config/schema.js'

/** One upstream as the router sees it, after the config file and environment are resolved. */
export interface UpstreamSpec {
  readonly name: string
  readonly baseUrl: string
  /** The upstream's own key; undefined for an upstream that wants none. */
  readonly apiKey: string | undefined
  readonly weight: number
  /** Model names and `*` patterns it serves; null serves every model. */
  readonly models: readonly string[] | null
}

/**
 * The upstreams of a config: the `upstreams` section, or else one upstream `default` from
 * UPSTREAM_BASE_URL and UPSTREAM_API_KEY. The loader has already read each `api_key_env`
 * from the environment and checked the names are unique, so this is a pure function.
 * @example const specs = upstreamSpecs(config)
 */
export function upstreamSpecs (config: GatewayConfig): UpstreamSpec[] {
  if (config.upstreams.length === 0) {
    return [{ name: 'default', baseUrl: config.UPSTREAM_BASE_URL, apiKey: config.UPSTREAM_API_KEY, weight: 1, models: null }]
  }
  return config.upstreams.map((u) => ({
    name: u.name,
    baseUrl: u.base_url,
    apiKey: u.api_key,
    weight: u.weight,
    models: u.models !== undefined && u.models.length > 0 ? u.models : null
  }))
}
