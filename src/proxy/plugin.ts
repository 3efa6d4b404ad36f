import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ClientResponse } from './client-response.js'
import type { Dispatch, GatewayRequest, Principal } from './interceptor.js'
import { gatewayError, type GatewayError } from '../errors.js'
import { jsonWhatever, readBody, type BodyFacts } from './body-reader.js'
import { boundsWhileReading, type BoundsWhileReading, type Refusal } from './bounds-while-reading.js'
import { checkJsonBounds } from './json-bounds.js'
import { SMALL_BODY_BYTES } from './server-limits.js'
import { routeTemplate } from './route-template.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The arrival scan of a large body, when there was one. */
    bodyScan: BoundsWhileReading | undefined
  }
}

export interface ProxyOptions<P extends Principal> {
  /** The composed request path (app.ts). */
  readonly dispatch: Dispatch<P>
  /** The caller of an authenticated request (set by the auth hook). */
  readonly principal: (request: FastifyRequest) => P
  /** +1 when a stream starts, -1 when it ends: the active-streams gauge. */
  readonly onStreamCount: (delta: number) => void
}

function tooComplex (v: Refusal): GatewayError {
  return gatewayError('GW_ERR_BODY_TOO_COMPLEX', [v.reason === 'depth' ? `nested deeper than ${v.limit}` : `more than ${v.limit} values`])
}

/** Depth and value count of a JSON body, checked on the bytes before it is parsed. */
function jsonBounds (body: Buffer): GatewayError | undefined {
  const v = checkJsonBounds(body)
  return v.ok ? undefined : tooComplex(v)
}

/** The path below /v1 without the query. */
function pathOf (url: string): string {
  const path = url.slice(3)
  const q = path.indexOf('?')
  return q === -1 ? path : path.slice(0, q)
}

/** A content-encoded body is refused unread (415), so it is not scanned either. */
function encoded (header: string | undefined): boolean {
  const e = header?.trim().toLowerCase()
  return e !== undefined && e !== '' && e !== 'identity'
}

/**
 * The client API: `POST /v1/chat/completions`, `POST /v1/responses` and every other
 * `/v1/*` method and path, all through the same request path. Fastify routes and
 * parses; the answer is written on the raw response (reply.hijack) so that bytes go out
 * as they arrive.
 */
export async function proxyPlugin<P extends Principal> (app: FastifyInstance, opts: ProxyOptions<P>): Promise<void> {
  const { dispatch, principal, onStreamCount } = opts

  // Large bodies (and chunked ones, whose size is unknown) are scanned for the bounds as
  // they arrive, and refused there; a small body is checked whole, which is cheaper than
  // a stream in its way.
  app.decorateRequest('bodyScan', undefined)
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const chunked = request.headers['transfer-encoding'] !== undefined
    if ((!chunked && !(Number(request.headers['content-length']) > SMALL_BODY_BYTES)) || encoded(request.headers['content-encoding'])) { done(null, payload); return }
    const url = request.raw.url ?? request.url
    const scan = boundsWhileReading(payload, jsonWhatever(pathOf(url), request.method, request.headers['content-type']), tooComplex)
    request.bodyScan = scan
    done(null, scan.payload)
  })

  // A plain function, not async: Fastify would wrap the promise of each request. Only a
  // multipart body (read by busboy) makes the handler wait.
  const handle = (route: string | undefined) => function relayRoute (request: FastifyRequest, reply: FastifyReply): void | Promise<void> {
    // Canonical already: the path guard rewrote (or refused) the target before routing.
    const url = request.raw.url ?? request.url
    const raw = request.body
    const body = Buffer.isBuffer(raw) ? raw : undefined
    const path = url.slice(3) // strip "/v1"
    const parsed = readBody(body, {
      path: pathOf(url),
      method: request.method,
      contentType: request.headers['content-type'],
      contentEncoding: request.headers['content-encoding'],
      prescan: request.bodyScan?.scannedWhole() === true ? undefined : jsonBounds
    })
    const relay = (facts: BodyFacts): void => {
      const req: GatewayRequest<P> = {
        id: request.id,
        method: request.method,
        route: route ?? routeTemplate(url),
        path,
        headers: request.headers,
        startedAt: request.startedAt,
        principal: principal(request),
        body,
        json: facts.json,
        model: facts.model,
        stream: facts.stream
      }
      reply.hijack()
      dispatch(req, new ClientResponse(reply.raw, request.id, onStreamCount))
    }
    if (parsed instanceof Promise) return parsed.then(relay)
    relay(parsed)
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
