import type { GatewayConfig } from '../config/schema.js'
import type { Metrics } from '../metrics/metrics.js'
import type { Dispatch } from '../proxy/interceptor.js'
import { createUpstreamTarget, upstreamDispatch } from '../proxy/upstream.js'
import { upstreamSpecs, type UpstreamSpec } from './config.js'
import { UpstreamHealth } from './health.js'
import { createUpstreamRouter, type RoutedUpstream } from './router.js'

/** A terminal for one upstream: its dispatch and how to close its connections. */
export interface UpstreamTerminal {
  readonly dispatch: Dispatch
  close (): Promise<void>
}

/** The upstreams of the gateway behind one dispatch (the innermost of the request path). */
export interface UpstreamSet {
  readonly dispatch: Dispatch
  readonly names: readonly string[]
  /** Where Realtime WebSocket sessions go: the first upstream (they are not routed or retried). */
  readonly realtime: { readonly baseUrl: string, readonly authorization: string | undefined }
  close (): Promise<void>
}

/**
 * Builds every upstream of the config (its terminal, its health and `up` gauge) and the
 * router over them. Called once at start-up.
 * `terminal` makes each upstream's dispatch: by default undici to its base URL with its key.
 * @example const upstreams = createUpstreamSet(config, metrics)
 */
export function createUpstreamSet (config: GatewayConfig, metrics: Metrics, terminal: (spec: UpstreamSpec) => UpstreamTerminal = (spec) => undiciTerminal(spec, config)): UpstreamSet {
  const terminals: UpstreamTerminal[] = []
  const specs = upstreamSpecs(config)
  const routed: RoutedUpstream[] = specs.map((spec) => {
    const t = terminal(spec)
    terminals.push(t)
    const up = metrics.upstreamUp.labels(spec.name)
    up.set(1)
    return {
      name: spec.name,
      weight: spec.weight,
      models: spec.models,
      dispatch: t.dispatch,
      health: new UpstreamHealth({
        failuresToCooldown: config.UPSTREAM_FAILURES_TO_COOLDOWN,
        cooldownMs: config.UPSTREAM_COOLDOWN_MS,
        onChange: (isUp) => up.set(isUp ? 1 : 0)
      })
    }
  })
  return {
    dispatch: createUpstreamRouter(routed, { retries: config.UPSTREAM_RETRIES, metrics }),
    names: routed.map((u) => u.name),
    realtime: { baseUrl: specs[0]!.baseUrl, authorization: specs[0]!.apiKey !== undefined ? `Bearer ${specs[0]!.apiKey}` : undefined },
    close: async () => { await Promise.all(terminals.map((t) => t.close())) }
  }
}

/** One upstream's terminal: its own undici pool, base path and key. */
function undiciTerminal (spec: UpstreamSpec, config: GatewayConfig): UpstreamTerminal {
  const target = createUpstreamTarget({ name: spec.name, baseUrl: spec.baseUrl, apiKey: spec.apiKey }, config)
  return { dispatch: upstreamDispatch(target), close: () => target.close() }
}
