import type { FastifyInstance } from 'fastify'
import { bearerToken } from '../auth/authenticate.js'
import { gatewayError } from '../errors.js'
import { secretEquals } from '../metrics/plugin.js'
import { admitThrottled, type AuthThrottle } from './auth-throttle.js'

/**
 * `/admin/*`: an encapsulated context with its own auth hook (the admin key, compared in
 * constant time, failures throttled per address) and a JSON body parser; features add
 * their routes to it.
 */
export async function adminPlugin (app: FastifyInstance, opts: { adminKey: string | undefined, throttle: AuthThrottle, routes: ReadonlyArray<(admin: FastifyInstance) => Promise<void>> }): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string
    if (text.trim() === '') { done(null, {}); return }
    try {
      done(null, JSON.parse(text))
    } catch (err) {
      done(gatewayError('GW_ERR_INVALID_JSON', [(err as Error).message]), undefined)
    }
  })
  app.addHook('onRequest', async (request) => {
    if (opts.adminKey === undefined) throw gatewayError('GW_ERR_ADMIN_DISABLED')
    const adminKey = opts.adminKey
    if (!admitThrottled(opts.throttle, request.ip, () => secretEquals(bearerToken(request.headers.authorization), adminKey))) throw gatewayError('GW_ERR_ADMIN_UNAUTHORIZED')
  })
  for (const routes of opts.routes) await routes(app)
}
