import type { Feature, FeatureContext } from '../feature.js'
import type { Exchange, Stage } from '../proxy/exchange.js'
import { keysRoutes } from '../admin/keys-routes.js'
import type { AuditLog } from '../audit/audit-log.js'
import { GatewayError, gatewayError } from '../errors.js'
import { createCachedKeyResolver, type CachedKeyResolver, type CachedResolverOptions } from './cached-resolver.js'
import type { KeyStore } from './key-store.js'
import { isModelAllowed } from './model-access.js'
import { createRedisKeyStore } from './redis-key-store.js'
import { createSqliteKeyStore } from './sqlite-key-store.js'
import { staticKeyRecords } from './static-keys.js'

export interface KeysFeature extends Feature {
  /** The hot-path lookup for the auth hook (GatewayDeps.keys). */
  readonly resolver: CachedKeyResolver
  readonly store: KeyStore
}

/** Store failures become one 503 (`store_unavailable`); our own errors pass unchanged. */
async function storeCall<R> (op: Promise<R>): Promise<R> {
  try {
    return await op
  } catch (err) {
    if (err instanceof GatewayError) throw err
    throw gatewayError('GW_ERR_STORE_UNAVAILABLE', [(err as Error).message], { cause: err })
  }
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

/** `/v1/models/{id}` → the model id asked for. */
function modelOfPath (upstreamPath: string): string {
  const q = upstreamPath.indexOf('?')
  const path = q === -1 ? upstreamPath : upstreamPath.slice(0, q)
  return decodeURIComponent(path.slice('/models/'.length))
}

/**
 * The model list follows the key's allow-list: `GET /v1/models` shows only allowed
 * models, `GET /v1/models/{id}` of another model is refused like a request for it.
 */
const modelsStage: Stage = {
  name: 'keys',
  before (ex: Exchange) {
    if (!ex.route.startsWith('/v1/models/') || ex.key.models === null || ex.key.models.length === 0) return
    const model = modelOfPath(ex.upstreamPath)
    if (!isModelAllowed(ex.key.models, model)) throw gatewayError('GW_ERR_MODEL_NOT_ALLOWED', [model], { param: 'model' })
  },
  beforeSend (ex: Exchange) {
    if (ex.route !== '/v1/models' || ex.status !== 200 || ex.responseBody === undefined) return
    const allow = ex.key.models
    if (allow === null || allow.length === 0) return
    let list: { data?: unknown }
    try {
      list = JSON.parse(ex.responseBody.toString('utf8'))
    } catch {
      return
    }
    if (!Array.isArray(list.data)) return
    list.data = list.data.filter((m: { id?: unknown }) => typeof m?.id === 'string' && isModelAllowed(allow, m.id))
    ex.responseBody = Buffer.from(JSON.stringify(list))
  }
}

/**
 * Virtual keys: the store chosen by the config (Redis when configured, else SQLite under
 * DATA_DIR), the cached resolver the auth hook uses, the `/admin/keys` routes and the
 * `/v1/models` filter. First in the pipeline.
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
    stage: modelsStage,
    adminRoutes: keysRoutes({ store, staticKeys: [...statics.values()], teams: options.teams, audit: options.audit }),
    ready: () => raw.ready(),
    close: async () => {
      await resolver.close()
      await raw.close()
    }
  }
}
