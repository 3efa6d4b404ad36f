import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Metrics } from './metrics.js'
import { bearerToken } from '../auth/authenticate.js'
import { gatewayError } from '../errors.js'
import { admitThrottled, type AuthThrottle } from '../admin/auth-throttle.js'

/** Constant-time comparison of two secrets of any length. */
export function secretEquals (given: string | undefined, expected: string | undefined): boolean {
  if (given === undefined || expected === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  // Compare against itself on a length mismatch so timing does not reveal the length.
  return timingSafeEqual(a, a.length === b.length ? b : a) && a.length === b.length
}

/**
 * `GET /metrics` in Prometheus text format; wants METRICS_TOKEN (or the admin key) when
 * set, with failures counted in the admin throttle (the admin key can be guessed here too).
 */
export async function metricsPlugin (app: FastifyInstance, opts: { metrics: Metrics, token: string | undefined, adminKey: string | undefined, throttle: AuthThrottle }): Promise<void> {
  const accepts = (authorization: string | undefined): boolean => {
    const given = bearerToken(authorization)
    return secretEquals(given, opts.token) || secretEquals(given, opts.adminKey)
  }
  app.get('/metrics', async (request, reply) => {
    if (opts.token !== undefined && !admitThrottled(opts.throttle, request.ip, () => accepts(request.headers.authorization))) throw gatewayError('GW_ERR_METRICS_UNAUTHORIZED')
    reply.header('content-type', opts.metrics.registry.contentType)
    return await opts.metrics.registry.metrics()
  })
}
