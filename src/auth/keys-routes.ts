import type { FastifyInstance } from 'fastify'
import type { z } from 'zod'
import type { KeyRecord } from './key-record.js'
import { keyPatchSchema, newKeySchema, type KeyStore } from './key-store.js'
import { gatewayError } from '../errors.js'

/** A key as the admin API shows it: never the secret, never its hash. */
export function keyView (r: KeyRecord): Record<string, unknown> {
  return {
    id: r.id,
    object: 'gateway.key',
    name: r.name,
    key_prefix: r.key_prefix,
    rpm: r.rpm,
    tpm: r.tpm,
    max_concurrency: r.max_concurrency,
    budget_usd: r.budget_usd,
    budget_period: r.budget_period,
    models: r.models,
    expires_at: r.expires_at,
    cache_ttl_seconds: r.cache_ttl_seconds,
    metadata: r.metadata,
    created_at: r.created_at,
    revoked: r.revoked_at !== null,
    revoked_at: r.revoked_at,
    read_only: r.read_only
  }
}

/** Validates an admin body; a bad field is a 400 whose `param` names it. */
export function parseBody<S extends z.ZodType> (schema: S, body: unknown): z.infer<S> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw gatewayError('GW_ERR_BODY_NOT_OBJECT')
  const result = schema.safeParse(body)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  const param = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('.')
  const message = issue.code === 'unrecognized_keys' ? `Unknown field '${param}'.` : `Invalid '${param}': ${issue.message}.`
  throw gatewayError('GW_ERR_BAD_REQUEST', [message], { param })
}

export interface KeysRoutesOptions {
  readonly store: KeyStore
  /** Keys of the config file: listed, never changed here. */
  readonly staticKeys: readonly KeyRecord[]
}

/**
 * `/admin/keys`: create, list, get, patch, revoke (CONTRACT.md, Admin API). Registered in
 * the admin context, which already checked the admin key and parsed the JSON body.
 * @example admin.register(keysRoutes({ store, staticKeys }))
 */
export function keysRoutes ({ store, staticKeys }: KeysRoutesOptions) {
  const staticById = new Map(staticKeys.map((k) => [k.id, k]))
  const staticNames = new Set(staticKeys.map((k) => k.name))
  const nameFree = (name: string | undefined): void => {
    if (name !== undefined && staticNames.has(name)) throw gatewayError('GW_ERR_KEY_NAME_TAKEN', [name], { param: 'name' })
  }
  const writable = (id: string): void => {
    const fixed = staticById.get(id)
    if (fixed !== undefined) throw gatewayError('GW_ERR_KEY_READ_ONLY', [fixed.name])
  }

  return async function routes (admin: FastifyInstance): Promise<void> {
    admin.post('/keys', async (request, reply) => {
      const input = parseBody(newKeySchema, request.body)
      nameFree(input.name)
      const { record, secret } = await store.create(input)
      reply.code(201)
      // The one and only time the secret leaves the gateway.
      return { ...keyView(record), key: secret }
    })

    admin.get('/keys', async () => {
      const stored = await store.list()
      return { object: 'list', data: [...staticKeys, ...stored].map(keyView) }
    })

    admin.get<{ Params: { id: string } }>('/keys/:id', async (request) => {
      const { id } = request.params
      const record = staticById.get(id) ?? await store.get(id)
      if (record === undefined) throw gatewayError('GW_ERR_KEY_NOT_FOUND', [id])
      return keyView(record)
    })

    admin.patch<{ Params: { id: string } }>('/keys/:id', async (request) => {
      const { id } = request.params
      writable(id)
      const patch = parseBody(keyPatchSchema, request.body)
      nameFree(patch.name)
      return keyView(await store.update(id, patch))
    })

    admin.delete<{ Params: { id: string } }>('/keys/:id', async (request) => {
      const { id } = request.params
      writable(id)
      return keyView(await store.revoke(id))
    })
  }
}
