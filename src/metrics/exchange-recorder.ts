import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { Metrics } from './metrics.js'
import type { Exchange } from '../proxy/exchange.js'
import type { GatewayError } from '../errors.js'
import { routeTemplate } from '../proxy/route-template.js'
import { scrubSecrets } from '../log.js'

const NANOS_PER_USD = 1e9

/**
 * The end of every client request: one log line and the request metrics. Counter
 * children are cached per label set, so the hot path does no label hashing.
 */
export function exchangeRecorder (metrics: Metrics, log: Logger) {
  const children = new Map<string, ReturnType<Metrics['requests']['labels']>>()
  const requestCounter = (route: string, model: string, key: string, status: number) => {
    const id = `${route}\0${model}\0${key}\0${status}`
    let c = children.get(id)
    if (c === undefined) {
      c = metrics.requests.labels(route, model, key, String(status))
      children.set(id, c)
    }
    return c
  }

  // Histogram children cached like the counter's: `labels()` hashes the label values on every
  // call (bench/micro/recorder.ts, "Duration histogram observation"; two per request).
  const timings = new Map<string, { duration: ReturnType<Metrics['duration']['labels']>, ttfb: ReturnType<Metrics['ttfb']['labels']> }>()
  const timing = (route: string, model: string) => {
    const id = `${route}\0${model}`
    let t = timings.get(id)
    if (t === undefined) {
      t = { duration: metrics.duration.labels(route, model), ttfb: metrics.ttfb.labels(route, model) }
      timings.set(id, t)
    }
    return t
  }
  // The request line is built here from known-safe fields only (no headers, no secrets; error
  // text goes through scrubSecrets), so it skips the process-wide redaction paths, which cost
  // about ten times the rest of the line (bench/micro/recorder.ts, "Request log line").
  const lineLog = log.child({}, { redact: [] })

  return {
    /** A relayed exchange ended (any outcome). */
    exchange (ex: Exchange, error: GatewayError | undefined): void {
      const ms = performance.now() - ex.startedAt
      requestCounter(ex.route, ex.modelLabel, ex.key.name, ex.status).inc()
      const t = timing(ex.route, ex.modelLabel)
      t.duration.observe(ms / 1000)
      if (ex.ttfbMs !== undefined) t.ttfb.observe(ex.ttfbMs / 1000)
      if (ex.outcome === 'upstream_error' || ex.outcome === 'upstream_timeout') metrics.upstreamErrors.labels(ex.route, ex.outcome === 'upstream_error' ? 'error' : 'timeout').inc()
      const u = ex.usage
      const line = {
        reqId: ex.id,
        keyName: ex.key.name,
        method: ex.method,
        route: ex.route,
        model: ex.model,
        status: ex.status,
        outcome: ex.outcome,
        stream: ex.sse !== undefined,
        ms: Math.round(ms * 10) / 10,
        ttfbMs: ex.ttfbMs === undefined ? undefined : Math.round(ex.ttfbMs * 10) / 10,
        bytes: ex.bytesOut,
        upstreamRequestId: ex.upstreamHeaders?.['x-request-id'],
        cache: ex.cache,
        tokens: u === undefined ? undefined : { input: u.inputTokens, cached: u.cachedInputTokens, output: u.outputTokens, reasoning: u.reasoningTokens },
        costUsd: u === undefined ? undefined : u.costNanos / NANOS_PER_USD,
        estimated: u?.estimated || undefined,
        error: error === undefined ? undefined : scrubSecrets(error.message)
      }
      if (ex.outcome === 'upstream_error' || ex.outcome === 'upstream_timeout' || ex.status >= 500) lineLog.warn(line, 'request')
      else lineLog.info(line, 'request')
    },
    /** A /v1 request refused before the pipeline (bad key, bad body): Fastify answered it. */
    refused (request: FastifyRequest, status: number): void {
      const route = routeTemplate(request.url)
      const key = request.gatewayKey?.name ?? 'unauthenticated'
      requestCounter(route, 'other', key, status).inc()
      lineLog.info({ reqId: request.id, keyName: key, method: request.method, route, status, outcome: 'refused', ms: Math.round((performance.now() - request.startedAt) * 10) / 10 }, 'request')
    }
  }
}
