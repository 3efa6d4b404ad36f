import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ClientResponse } from './client-response.js'
import type { Dispatch, GatewayRequest, Principal } from './interceptor.js'
import { parseRequestBody } from './request-body.js'
import { routeTemplate } from './route-template.js'

export interface ProxyOptions<P extends Principal> {
  /** The composed request path (app.ts). */
  readonly dispatch: Dispatch<P>
  /** The caller of an authenticated request (set by the auth hook). */
  readonly principal: (request: FastifyRequest) => P
  /** +1 when a stream starts, -1 when it ends: the active-streams gauge. */
  readonly onStreamCount: (delta: number) => void
}

/** Routes whose body must be a JSON object with a model. */
const MODEL_ROUTES = new Set(['/v1/chat/completions', '/v1/responses'])

/**
 * The client API: `POST /v1/chat/completions`, `POST /v1/responses` and every other
 * `/v1/*` method and path, all through the same request path. Fastify routes and
 * parses; the answer is written on the raw response (reply.hijack) so that bytes go out
 * as they arrive.
 */
export async function proxyPlugin<P extends Principal> (app: FastifyInstance, opts: ProxyOptions<P>): Promise<void> {
  const { dispatch, principal, onStreamCount } = opts

  // A plain function, not async: Fastify would wrap the promise of each request.
  const handle = (route: string | undefined) => function relayRoute (request: FastifyRequest, reply: FastifyReply): void {
    const url = request.raw.url ?? request.url
    const raw = request.body
    const body = Buffer.isBuffer(raw) ? raw : undefined
    const parsed = parseRequestBody(body, request.headers['content-type'], route !== undefined && MODEL_ROUTES.has(route))
    const req: GatewayRequest<P> = {
      id: request.id,
      method: request.method,
      route: route ?? routeTemplate(url),
      path: url.slice(3), // strip "/v1"
      headers: request.headers,
      startedAt: request.startedAt,
      principal: principal(request),
      body,
      json: parsed.json,
      model: parsed.model,
      stream: parsed.stream
    }
    reply.hijack()
    dispatch(req, new ClientResponse(reply.raw, request.id, onStreamCount))
  }

  app.post('/v1/chat/completions', handle('/v1/chat/completions'))
  app.post('/v1/responses', handle('/v1/responses'))
  app.all('/v1/*', handle(undefined))
  app.all('/v1', handle(undefined))
}

/** The request as far as it got before it was refused (bad key, bad body): for the recorder. */
export function refusedRequest<P extends Principal> (request: FastifyRequest, principal: P): GatewayRequest<P> {
  const url = request.raw.url ?? request.url
  return {
    id: request.id,
    method: request.method,
    route: routeTemplate(url),
    path: url.slice(3),
    headers: request.headers,
    startedAt: request.startedAt,
    principal,
    body: undefined,
    json: undefined,
    model: undefined,
    stream: false
  }
}
