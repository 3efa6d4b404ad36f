import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Exchange } from './exchange.js'
import { runExchange, type PipelineContext } from './pipeline.js'
import { parseRequestBody } from './request-body.js'
import { routeTemplate } from './route-template.js'
import { isModelAllowed } from '../auth/model-access.js'
import { gatewayError } from '../errors.js'

export interface ProxyOptions {
  readonly pipeline: PipelineContext
}

/** Routes whose body must be a JSON object with a model. */
const MODEL_ROUTES = new Set(['/v1/chat/completions', '/v1/responses'])

/**
 * The client API: `POST /v1/chat/completions`, `POST /v1/responses` and every other
 * `/v1/*` method and path, all through the same pipeline. Fastify routes and parses;
 * the answer is written by the relay on the raw response (reply.hijack) so that bytes go
 * out as they arrive.
 */
export async function proxyPlugin (app: FastifyInstance, opts: ProxyOptions): Promise<void> {
  const { pipeline } = opts

  const handle = (route: string | undefined) => async function relayRoute (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = request.raw.url ?? request.url
    const template = route ?? routeTemplate(url)
    const body = request.body as Buffer | undefined
    const parsed = parseRequestBody(Buffer.isBuffer(body) ? body : undefined, request.headers['content-type'], route !== undefined && MODEL_ROUTES.has(route))
    const key = request.gatewayKey!
    const teamModels = request.gatewayPrincipal?.team?.models ?? null
    if (parsed.model !== undefined && (!isModelAllowed(key.models, parsed.model) || !isModelAllowed(teamModels, parsed.model))) {
      throw gatewayError('GW_ERR_MODEL_NOT_ALLOWED', [parsed.model], { param: 'model' })
    }
    reply.hijack()
    const ex: Exchange = {
      id: request.id,
      route: template,
      method: request.method,
      upstreamPath: url.slice(3), // strip "/v1"
      clientHeaders: request.headers,
      startedAt: request.startedAt,
      key,
      clientBody: Buffer.isBuffer(body) ? body : undefined,
      json: parsed.json,
      model: parsed.model,
      stream: parsed.stream,
      upstreamBody: Buffer.isBuffer(body) ? body : undefined,
      stripUsageChunk: false,
      keepUpstreamOnAbort: undefined,
      modelLabel: 'other',
      responseHeaders: {},
      observers: [],
      status: 0,
      ttfbMs: undefined,
      upstreamHeaders: undefined,
      responseBody: undefined,
      sse: undefined,
      outcome: 'ok',
      bytesOut: 0,
      cache: undefined,
      usage: undefined
    }
    await runExchange(ex, reply.raw, pipeline)
  }

  app.post('/v1/chat/completions', handle('/v1/chat/completions'))
  app.post('/v1/responses', handle('/v1/responses'))
  app.all('/v1/*', handle(undefined))
  app.all('/v1', handle(undefined))
}
