import type { Feature, FeatureContext } from '../feature.js'
import type { GatewayConfig } from '../config/schema.js'
import { createPriceTable } from '../metering/pricing.js'
import { accessInterceptor } from './interceptor.js'

/** Every upstream credential the config names (UPSTREAM_API_KEY and the `upstreams` section's keys). */
function upstreamSecrets (config: GatewayConfig): string[] {
  const out = config.UPSTREAM_API_KEY !== undefined ? [config.UPSTREAM_API_KEY] : []
  for (const u of config.upstreams) if (u.api_key !== undefined) out.push(u.api_key)
  return out
}

/**
 * What a key can reach: routes, model allow-lists (key and team), models without a price,
 * and what answers may show (no redirects, no upstream key). Its interceptor sits right
 * inside the recorder, so a refused request uses no quota and reaches nothing.
 * @example const access = createAccessFeature(ctx)
 */
export function createAccessFeature (ctx: FeatureContext, extraSecrets: readonly string[] = []): Feature {
  const { config } = ctx
  return {
    name: 'access',
    interceptor: accessInterceptor({
      prices: createPriceTable(config.pricing, config.aliases),
      unpricedModels: config.UNPRICED_MODELS,
      upstreamSecrets: [...upstreamSecrets(config), ...extraSecrets]
    })
  }
}
