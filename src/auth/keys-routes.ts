import type { FastifyInstance } from 'fastify'
import type { z } from 'zod'
import type { KeyRecord } from './key-record.js'
import { keyPatchSchema, newKeySchema, rotateSchema, type KeyStore } from './key-store.js'
import type { AuditLog } from '../audit/audit-log.js'
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
    team_id: r.team_id,
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
  /** Teams a key may join (`team_id` must name one); absent: no teams. */
  readonly teams?: { resolve (id: string): unknown }
  /** Where every change is recorded. */
  readonly audit?: AuditLog
}

/**
 * `/admin/keys`: create, list, get, patch, revoke, rotate. Registered in the admin
 * context, which already checked the admin key and parsed the JSON body. Every change is
 * written to the audit log, secrets never.
 * @example admin.register(keysRoutes({ store, staticKeys, teams, audit }))
 */
export function keysRoutes ({ store, staticKeys, teams, audit }: KeysRoutesOptions) {
  const staticById = new Map(staticKeys.map((k) => [k.id, k]))
  const staticNames = new Set(staticKeys.map((k) => k.name))
  const nameFree = (name: string | undefined): void => {
    if (name !== undefined && staticNames.has(name)) throw gatewayError('GW_ERR_KEY_NAME_TAKEN', [name], { param: 'name' })
  }
  const writable = (id: string): void => {
    const fixed = staticById.get(id)
    if (fixed !== undefined) throw gatewayError('GW_ERR_KEY_READ_ONLY', [fixed.name])
  }

  const teamExists = async (teamId: string | null | undefined): Promise<void> => {
    if (teamId === undefined || teamId === null) return
    const team = teams === undefined ? undefined : await teams.resolve(teamId)
    if (team === undefined) throw gatewayError('GW_ERR_TEAM_NOT_FOUND', [teamId], { param: 'team_id' })
  }

  return async function routes (admin: FastifyInstance): Promise<void> {
    admin.post('/keys', async (request, reply) => {
      const input = parseBody(newKeySchema, request.body)
      nameFree(input.name)
      await teamExists(input.team_id)
      const { record, secret } = await store.create(input)
      await audit?.record(request, { action: 'key.create', targetType: 'key', targetId: record.id, after: keyView(record) })
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
      await teamExists(patch.team_id)
      const before = await store.get(id)
      const after = keyView(await store.update(id, patch))
      await audit?.record(request, { action: 'key.update', targetType: 'key', targetId: id, before: before === undefined ? undefined : keyView(before), after })
      return after
    })

    admin.delete<{ Params: { id: string } }>('/keys/:id', async (request) => {
      const { id } = request.params
      writable(id)
      const before = await store.get(id)
      const after = keyView(await store.revoke(id))
      // Revoking twice changes nothing: only the first is a change to record.
      if (before !== undefined && before.revoked_at === null) await audit?.record(request, { action: 'key.revoke', targetType: 'key', targetId: id, before: keyView(before), after })
      return after
    })

    admin.post<{ Params: { id: string } }>('/keys/:id/rotate', async (request) => {
      const { id } = request.params
      writable(id)
      const { grace_seconds: grace = 0 } = parseBody(rotateSchema, request.body ?? {})
      const before = await store.get(id)
      const { record, secret } = await store.rotate(id, grace)
      const graceUntil = grace > 0 ? new Date(Date.now() + grace * 1000).toISOString() : null
      await audit?.record(request, { action: 'key.rotate', targetType: 'key', targetId: id, before: before === undefined ? undefined : keyView(before), after: keyView(record), extra: { grace_seconds: [null, grace] } })
      // The one and only time the new secret leaves the gateway.
      return { ...keyView(record), key: secret, previous_key_expires_at: graceUntil }
    })
  }
}
