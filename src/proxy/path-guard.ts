import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { canonicalTarget } from './canonical-path.js'
import { gatewayError } from '../errors.js'

/**
 * Puts the canonical-path rule in front of Fastify's router, for every request (health,
 * admin and metrics included). Fastify's `rewriteUrl` runs before routing but must not
 * throw (it is called straight from the HTTP server's request event), so a refused
 * target is rewritten to a route of its own that answers 400 `invalid_path`: nothing
 * else ever sees the non-canonical spelling.
 */

const INVALID_PATH_ROUTE = '/__gateway/invalid-path'
const refusal = Symbol('gateway.invalidPath')

type GuardedMessage = IncomingMessage & { [refusal]?: string }

/**
 * The `rewriteUrl` option of Fastify: the canonical target, or the refusal route.
 * @example Fastify({ rewriteUrl: canonicalRewrite })
 */
export function canonicalRewrite (req: IncomingMessage): string {
  const raw = req.url ?? ''
  const target = canonicalTarget(raw)
  if (target.ok) {
    // The API's routes take one spelling; the web page's directory URL (`/ui/`) keeps its slash,
    // which its relative asset URLs need.
    if (raw.startsWith('/ui/') && !target.url.startsWith('/ui/')) return '/ui/' + target.url.slice(3)
    return target.url
  }
  ;(req as GuardedMessage)[refusal] = target.reason
  return INVALID_PATH_ROUTE
}

/** Registers the route refused targets land on (call on the root instance). */
export function registerPathGuard (app: FastifyInstance): void {
  app.all(INVALID_PATH_ROUTE, async (request) => {
    throw gatewayError('GW_ERR_INVALID_PATH', [(request.raw as GuardedMessage)[refusal] ?? 'reserved path'])
  })
}
