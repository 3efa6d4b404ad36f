import { storeCall } from '../store/store-call.js'
import type { Feature, FeatureContext } from '../feature.js'
import type { AuditLog } from '../audit/audit-log.js'
import { ForwardingHandler, refuse, type Controller, type Interceptor, type ResponseHead } from '../proxy/interceptor.js'
import { gatewayError } from '../errors.js'
import { createCachedKeyResolver, type CachedKeyResolver, type CachedResolverOptions } from './cached-resolver.js'
import type { KeyStore } from './key-store.js'
import { isModelAllowed } from './model-access.js'
import { createRedisKeyStore } from './redis-key-store.js'
import { createSqliteKeyStore } from './sqlite-key-store.js'
import { keysRoutes } from './keys-routes.js'
import type { KeyPrincipal } from './principal.js'
import { staticKeyRecords } from './static-keys.js'

export interface KeysFeature extends Feature {
  /** The hot-path lookup for the auth hook (GatewayDeps.keys). */
  readonly resolver: CachedKeyResolver
  readonly store: KeyStore
}

function guarded (store: KeyStore): KeyStore {
  return {
    kind: store.kind,
    create: (input) => storeCall(store.create(input)),
    list: () => storeCall(store.list()),
    get: (id) => storeCall(store.get(id)),
    findByHash: (hash) => storeCall(store.findByHash(hash)),
    update: (id, patch) => storeCall(store.update(id, patch)),
    revoke: (id) => storeCall(store.revoke(id)),
    rotate: (id, grace) => storeCall(store.rotate(id, grace)),
    onChange: (listener) => store.onChange(listener),
    onResync: (listener) => store.onResync?.(listener) ?? (() => {}),
    ready: () => store.ready(),
    close: () => store.close()
  }
}

/** `/models/{id}` → the model id asked for. */
function modelOfPath (path: string): string {
  const q = path.indexOf('?')
  const p = q === -1 ? path : path.slice(0, q)
  return decodeURIComponent(p.slice('/models/'.length))
}

/** True when both allow-lists (the key's and its team's) let `model` through. */
function allowedByBoth (lists: ReadonlyArray<readonly string[]>, model: string): boolean {
  for (const allow of lists) if (!isModelAllowed(allow, model)) return false
  return true
}

/**
 * The model allow-lists of the key and of its team on the request path: a model must be
 * allowed by both. A request for another model is refused (403 `model_not_allowed`),
 * `GET /v1/models` shows only allowed models and `GET /v1/models/{id}` of another model
 * is refused like a request for it.
 */
export const modelsInterceptor: Interceptor<KeyPrincipal> = (next) => function models (req, handler) {
  const own = req.principal.key.models
  const team = req.principal.team?.models ?? null
  const lists = [own, team].filter((l): l is readonly string[] => l !== null && l.length > 0)
  if (lists.length === 0) return next(req, handler)
  if (req.model !== undefined && !allowedByBoth(lists, req.model)) {
    return refuse(handler, gatewayError('GW_ERR_MODEL_NOT_ALLOWED', [req.model], { param: 'model' }))
  }
  if (req.route.startsWith('/v1/models/')) {
    const model = modelOfPath(req.path)
    if (!allowedByBoth(lists, model)) return refuse(handler, gatewayError('GW_ERR_MODEL_NOT_ALLOWED', [model], { param: 'model' }))
  }
  if (req.route === '/v1/models') return next(req, new ModelListFilter(handler, lists))
  next(req, handler)
}

/** Keeps only the allowed models in a `GET /v1/models` list. */
class ModelListFilter extends ForwardingHandler {
  constructor (inner: ConstructorParameters<typeof ForwardingHandler>[0], private readonly lists: ReadonlyArray<readonly string[]>) {
    super(inner)
  }

  override onResponseStart (controller: Controller, head: ResponseHead): void {
    this.inner.onResponseStart(controller, head.status === 200 && head.body !== undefined ? { ...head, body: filterList(head.body, this.lists) } : head)
  }
}

function filterList (body: Buffer, lists: ReadonlyArray<readonly string[]>): Buffer {
  let list: { data?: unknown }
  try {
    list = JSON.parse(body.toString('utf8'))
  } catch {
    return body
  }
  if (!Array.isArray(list.data)) return body
  list.data = list.data.filter((m: { id?: unknown }) => typeof m?.id === 'string' && allowedByBoth(lists, m.id))
  return Buffer.from(JSON.stringify(list))
}

/**
 * Virtual keys: the store chosen by the config (Redis when configured, else SQLite under
 * DATA_DIR), the cached resolver the auth hook uses, the `/admin/keys` routes and the
 * model allow-list on the request path (before limits: a refused model uses no quota).
 * @example const keys = await createKeysFeature(ctx); deps.keys = keys.resolver
 */
export async function createKeysFeature (ctx: FeatureContext, options: CachedResolverOptions & { audit?: AuditLog } = {}): Promise<KeysFeature> {
  let raw: KeyStore
  if (ctx.redis !== undefined) raw = await createRedisKeyStore(ctx.redis, ctx.log)
  else if (ctx.sqlite !== undefined) raw = createSqliteKeyStore(ctx.sqlite)
  else throw new Error('keys: no store (neither Redis nor SQLite is configured)')
  const store = guarded(raw)
  const statics = staticKeyRecords(ctx.config.keys)
  const resolver = createCachedKeyResolver(store, statics, ctx.log, options)
  return {
    name: 'keys',
    store,
    resolver,
    interceptor: modelsInterceptor,
    adminRoutes: keysRoutes({ store, staticKeys: [...statics.values()], teams: options.teams, audit: options.audit }),
    ready: () => raw.ready(),
    close: async () => {
      await resolver.close()
      await raw.close()
    }
  }
}
