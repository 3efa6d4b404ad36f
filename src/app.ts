import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import './types.js'
import type { GatewayConfig } from './config/schema.js'
import type { Feature } from './feature.js'
import type { KeyResolver } from './auth/key-record.js'
import type { KeyPrincipal } from './auth/principal.js'
import type { Metrics } from './metrics/metrics.js'
import type { UpstreamSet } from './upstreams/upstreams.js'
import { authenticate, resolvePrincipal } from './auth/authenticate.js'
import { adminPlugin } from './admin/plugin.js'
import { AuthThrottle } from './admin/auth-throttle.js'
import { healthPlugin } from './health/plugin.js'
import { metricsPlugin } from './metrics/plugin.js'
import { recorder } from './metrics/recorder.js'
import { proxyPlugin, refusedRequest } from './proxy/plugin.js'
import { clientRequestId } from './proxy/headers.js'
import { canonicalRewrite, registerPathGuard } from './proxy/path-guard.js'
import { limitParsing, serverLimitOptions } from './proxy/server-limits.js'
import { compose, refuse, type Dispatch, type Interceptor, type Principal, type ResponseHandler } from './proxy/interceptor.js'
import { gatewayError, toGatewayError } from './errors.js'
import { pathAdmission, type PathAdmissionOptions } from './realtime/admission.js'
import { realtimeUpgrade } from './realtime/relay.js'

/** Everything buildApp needs, created by deps.ts (or by a test). */
export interface GatewayDeps {
  readonly log: Logger
  /** The upstreams behind their router: the innermost dispatch of the request path. */
  readonly upstreams: UpstreamSet
  readonly keys: KeyResolver
  readonly metrics: Metrics
  /** The features by name; app.ts places their interceptors (see `requestPath`). */
  readonly features: readonly Feature[]
  /** The metrics label of a requested model (metering's price table). */
  readonly modelLabel: (model: string | undefined) => string
  /** Meters tokens reported outside an HTTP answer (Realtime sessions). */
  readonly meterTokens: PathAdmissionOptions['meterTokens']
}

/** The caller of a request refused before it was authenticated. */
const UNAUTHENTICATED: Principal = { id: '', name: 'unauthenticated', teamId: null, teamName: null }

/** A feature's interceptor by name, or none (the slot stays empty). */
function slot (features: readonly Feature[], name: string): Interceptor<KeyPrincipal> {
  return features.find((f) => f.name === name)?.interceptor ?? ((next) => next)
}

/**
 * The request path of `/v1`, outermost first: the one place the order of features is
 * written.
 *
 *   recorder   one log line + metrics for every answer, refusals included: outermost, so it
 *              sees what the client gets, after every feature added its part
 *   (tracing)  the request's span, when configured: inside the recorder, around the rest
 *   access     key may use this route and model (/v1/models filtered): before limits, so a
 *              refused request uses no quota
 *   limits     rpm, tpm, concurrency, budget: outside cache, so a hit counts for rpm
 *   metering   include_usage, the tap and the strip, usage → ResponseEnd.usage, cost header:
 *              outside cache, so a hit is metered (at $0, as saved) like any answer
 *   cache      lookup, coalescing, store: the innermost feature, so only misses go on
 *   upstreams  choose by weight and model, retry and fall back before the first byte, cool
 *              down: innermost, so a retry repeats only the upstream call (each upstream's
 *              terminal is an undici dispatch)
 */
function requestPath (deps: GatewayDeps): Dispatch<KeyPrincipal> {
  const f = deps.features
  return compose<KeyPrincipal>(
    deps.upstreams.dispatch,
    recorder({ metrics: deps.metrics, log: deps.log, modelLabel: deps.modelLabel }),
    slot(f, 'tracing'),
    slot(f, 'access'),
    slot(f, 'keys'),
    slot(f, 'ownership'),
    slot(f, 'limits'),
    slot(f, 'metering'),
    slot(f, 'cache')
  )
}

/**
 * The admission part of the request path for a Realtime session: the same interceptors
 * as `requestPath` up to limits, in the same order, in front of the session itself
 * (metering reads the session's `response.done` events, not an HTTP answer; there is
 * nothing to cache).
 */
function admissionPath (deps: GatewayDeps): (terminal: Dispatch<KeyPrincipal>) => Dispatch<KeyPrincipal> {
  const f = deps.features
  return (terminal) => compose<KeyPrincipal>(
    terminal,
    recorder({ metrics: deps.metrics, log: deps.log, modelLabel: deps.modelLabel }),
    slot(f, 'tracing'),
    slot(f, 'access'),
    slot(f, 'keys'),
    slot(f, 'limits')
  )
}

declare module 'fastify' {
  interface FastifyRequest {
    /** `performance.now()` when the request arrived. */
    startedAt: number
  }
  interface FastifyInstance {
    /** Set by the shutdown sequence: /readyz answers 503 from then on. */
    draining: boolean
    /** Requests whose response has not closed yet (the drain waits for these). */
    inflight: number
    /** Failed admin-key attempts per address, for every route that takes the admin key. */
    adminThrottle: AuthThrottle
  }
}

/**
 * `randomUUID` draws from a pre-filled entropy cache: about 4 µs cheaper per request than
 * `randomBytes(12)` (bench/README.md, profile), and as unguessable.
 */
function newRequestId (): string {
  return 'req_' + randomUUID().replaceAll('-', '')
}

/**
 * Builds the gateway's Fastify app from its config and dependencies. Never listens and
 * has no side effects beyond the app: main.ts and the tests call `listen`.
 * Closing the app closes the features, the key resolver and the upstream pool.
 * @example const app = await buildApp(config, await createDeps(config, log)); await app.listen({ port: 0 })
 */
export async function buildApp (config: GatewayConfig, deps: GatewayDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    // One log line per request is ours (the recorder), not Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger: nothing logs through request.log (our lines carry reqId
    // themselves), and a pino child per request is measurable (bench/micro/recorder.ts).
    childLoggerFactory: (logger) => logger,
    bodyLimit: config.MAX_BODY_BYTES,
    ...serverLimitOptions(config),
    trustProxy: config.TRUST_PROXY,
    genReqId: (req) => clientRequestId(req.headers['x-request-id']) ?? newRequestId(),
    requestIdHeader: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // One spelling of every path before routing; non-canonical ones are refused.
    rewriteUrl: canonicalRewrite,
    routerOptions: { ignoreTrailingSlash: true }
  })
  app.decorate('draining', false)
  app.decorate('inflight', 0)
  app.decorateRequest('startedAt', 0)
  app.decorateRequest('principal', undefined)

  // Bodies are kept as bytes: the relay forwards them unchanged; JSON is parsed once where needed.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => { done(null, body) })

  // Hooks take callbacks, not async functions: an async hook costs a promise and a
  // microtask per request (bench/micro/hooks.ts).
  app.addHook('onRequest', (request, reply, done) => {
    request.startedAt = performance.now()
    reply.header('x-request-id', request.id)
    app.inflight++
    reply.raw.once('close', () => { app.inflight-- })
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    const url = request.url
    if (!url.startsWith('/v1') && url !== '/healthz' && url !== '/metrics' && url !== '/readyz') {
      deps.log.info({ reqId: request.id, method: request.method, route: request.routeOptions.url ?? 'unknown', status: reply.statusCode, ms: Math.round(performance.now() - request.startedAt) }, 'request')
    }
    done()
  })

  app.setErrorHandler(async (err, request, reply) => {
    const error = toGatewayError(err, config.MAX_BODY_BYTES)
    if (error.status >= 500) deps.log.error({ reqId: request.id, err: error.cause ?? error }, error.message)
    reply.code(error.status).headers(error.headers).header('content-type', 'application/json')
    return error.toJSON()
  })
  app.setNotFoundHandler(async (request) => {
    throw gatewayError('GW_ERR_NOT_FOUND', [request.method, request.url.split('?')[0]!])
  })

  registerPathGuard(app)
  await app.register(healthPlugin, {
    checks: deps.features.filter((f) => f.ready !== undefined).map((f) => ({ name: f.name, ready: () => f.ready!() })),
    draining: () => app.draining
  })
  // One count of failed admin-key attempts per address, wherever the admin key is accepted.
  const adminThrottle = new AuthThrottle()
  app.decorate('adminThrottle', adminThrottle)
  await app.register(metricsPlugin, { metrics: deps.metrics, token: config.METRICS_TOKEN, adminKey: config.ADMIN_KEY, throttle: adminThrottle })
  await app.register(adminPlugin, {
    prefix: '/admin',
    adminKey: config.ADMIN_KEY,
    throttle: adminThrottle,
    routes: deps.features.flatMap((f) => f.adminRoutes !== undefined ? [f.adminRoutes] : [])
  })
  await app.register(import('./ui/plugin.js'))
  for (const routes of deps.features.flatMap((f) => f.routes ?? [])) await app.register(routes)
  // Refusals before the request path (bad key, bad body) are recorded by the same recorder;
  // Fastify writes them.
  const recordRefusal = recorder<Principal>({ metrics: deps.metrics, log: deps.log, modelLabel: deps.modelLabel })
  await app.register(async (v1) => {
    v1.addHook('onRequest', authenticate(deps.keys))
    limitParsing(v1, config.MAX_PARSING_BYTES, config.MAX_BODY_BYTES)
    v1.setErrorHandler(async (err, request, reply) => {
      const error = toGatewayError(err, config.MAX_BODY_BYTES)
      // A refusal for load is expected under attack: its request line is enough.
      if (error.status >= 500 && error.code !== 'GW_ERR_PARSING_BUSY') deps.log.error({ reqId: request.id, err: error.cause ?? error }, error.message)
      recordRefusal((_req, handler) => { refuse(handler, error) })(refusedRequest<Principal>(request, request.principal ?? UNAUTHENTICATED), IGNORE)
      reply.code(error.status).headers(error.headers).header('content-type', 'application/json')
      // Refused before its body arrived (no key, no budget): closing beats reading and
      // discarding what is still coming, which could be gigabytes.
      if (!request.raw.complete) reply.header('connection', 'close')
      return error.toJSON()
    })
    await v1.register(proxyPlugin<KeyPrincipal>, {
      dispatch: requestPath(deps),
      principal: (request) => request.principal!,
      onStreamCount: (d) => deps.metrics.activeStreams.inc(d)
    })
  })

  // The Realtime API: WebSocket upgrades of /v1/realtime, admitted through the request path.
  app.server.on('upgrade', realtimeUpgrade<KeyPrincipal>({
    authenticate: (secret) => resolvePrincipal(deps.keys, secret),
    admit: pathAdmission({ path: admissionPath(deps), meterTokens: deps.meterTokens }),
    upstreamBaseUrl: deps.upstreams.realtime.baseUrl,
    upstreamAuthorization: deps.upstreams.realtime.authorization,
    log: deps.log,
    newRequestId: (req) => clientRequestId(req.headers['x-request-id']) ?? newRequestId(),
    connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT_MS,
    onSession: (d) => { app.inflight += d }
  }))

  app.addHook('onClose', async () => {
    for (const f of [...deps.features].reverse()) {
      try {
        await f.close?.()
      } catch (err) {
        deps.log.error({ err, feature: f.name }, 'feature close failed')
      }
    }
    await deps.keys.close?.()
    await deps.upstreams.close()
  })
  return app
}

/** The client side of a recorded refusal: Fastify writes the answer itself. */
const IGNORE: ResponseHandler = {
  onRequestStart () {},
  onResponseStart () {},
  onResponseData () {},
  onResponseEnd () {},
  onResponseError () {}
}
