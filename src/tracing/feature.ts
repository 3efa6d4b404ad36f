import type { Feature, FeatureContext } from '../feature.js'
import type { GatewayConfig } from '../config/schema.js'
import { tracingInterceptor } from './interceptor.js'
import { createTracing } from './tracer.js'

/** The host an upstream name points at, from the config (`default` is UPSTREAM_BASE_URL). */
function upstreamHosts (config: GatewayConfig): (name: string | undefined) => string | undefined {
  const hosts = new Map<string, string>([['default', new URL(config.UPSTREAM_BASE_URL).hostname]])
  for (const u of config.upstreams) hosts.set(u.name, new URL(u.base_url).hostname)
  const only = hosts.size === 1 || config.upstreams.length === 0 ? hosts.get('default') : undefined
  return (name) => name !== undefined ? hosts.get(name) : only
}

/**
 * Tracing, when an OTLP endpoint is configured; else undefined, and nothing of it is on
 * the request path. Closing exports the spans still batched.
 * @example const tracing = createTracingFeature(ctx); if (tracing) features.push(tracing)
 */
export function createTracingFeature (ctx: FeatureContext): Feature | undefined {
  const tracing = createTracing(ctx.config)
  if (tracing === undefined) return undefined
  ctx.log.info({ service: ctx.config.OTEL_SERVICE_NAME }, 'tracing to OTLP/HTTP')
  return {
    name: 'tracing',
    interceptor: tracingInterceptor({ tracer: tracing.tracer, upstreamHost: upstreamHosts(ctx.config) }),
    close: () => tracing.close()
  }
}
