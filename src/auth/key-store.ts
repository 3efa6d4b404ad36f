import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { limitsSchema } from '../config/schema.js'
import type { KeyRecord } from './key-record.js'
import { routesSchema } from '../access/routes.js'

/**
 * What the admin API accepts to create a key (docs/admin-api.md). Strict: an unknown
 * field is a typo (`rmp`) and gets a 400 naming it rather than being silently ignored.
 */
export const newKeySchema = limitsSchema.extend({
  name: z.string().trim().min(1).max(200),
  /** Exact model names and `*` patterns; null or absent = every model. */
  models: z.array(z.string().trim().min(1).max(200)).max(500).nullable().optional(),
  /** Path patterns below /v1 the key may call; null or absent = the default set. */
  routes: routesSchema.nullable().optional(),
  expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
  cache_ttl_seconds: z.number().int().nonnegative().nullable().optional(),
  metadata: z.record(z.string().min(1).max(100), z.string().max(1000))
    .refine((m) => Object.keys(m).length <= 50, 'at most 50 labels').optional(),
  /** The team to join; null leaves it (PATCH). */
  team_id: z.string().trim().min(1).max(100).nullable().optional()
})

/** PATCH: the same fields, each optional; null clears a limit. */
export const keyPatchSchema = newKeySchema.partial()

export type NewKey = z.infer<typeof newKeySchema>
export type KeyPatch = z.infer<typeof keyPatchSchema>

/** Seconds an old secret may keep working after a rotation, at most (7 days). */
export const MAX_GRACE_SECONDS = 7 * 86_400

/** What `POST /admin/keys/{id}/rotate` accepts. */
export const rotateSchema = z.strictObject({
  grace_seconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).optional()
})

/**
 * A change another instance (or this one) made; the resolver drops or reloads that key.
 * `rotated`: the key has a new secret, so every cached secret of it is dropped (the old
 * one comes back with its grace expiry, if it has one, at its next use).
 */
export interface KeyChange {
  readonly id: string
  readonly kind: 'created' | 'updated' | 'revoked' | 'rotated'
}

/**
 * What a secret's hash leads to: the key, and for the old secret of a rotated key the
 * moment (ISO 8601) it stops working.
 */
export interface FoundKey {
  readonly record: KeyRecord
  readonly graceUntil?: string
}

/**
 * Where virtual keys live: SQLite (embedded) or Redis (single node or Cluster). The admin
 * API writes through it; the hot path never calls it per request (see CachedKeyResolver).
 *
 * Contract, for every implementation:
 * - `create` stores a new key and returns its record and the plaintext secret, which is
 *   never stored (only its SHA-256) and never returned again. Names are unique among keys
 *   that are not revoked: a taken name throws `GW_ERR_KEY_NAME_TAKEN` (revoking a key frees
 *   its name, so a person can get a fresh key under the same name).
 * - `list` returns every key, revoked ones included, oldest first.
 * - `get` / `findByHash` return undefined for an unknown id / hash; `findByHash` also
 *   finds an old secret of a rotated key until its grace period ends (`graceUntil`).
 * - `update` applies a patch (absent fields unchanged, null clears); throws
 *   `GW_ERR_KEY_NOT_FOUND`, `GW_ERR_KEY_NAME_TAKEN`, or `GW_ERR_KEY_REVOKED`.
 * - `revoke` sets `revoked_at` once (revoking again keeps the first time) and returns the
 *   record; throws `GW_ERR_KEY_NOT_FOUND`.
 * - `rotate` gives the key a new secret (same id, name, limits, team, spend); the old
 *   secret's hash is kept until `graceSeconds` from now (0: it stops at once). Throws
 *   `GW_ERR_KEY_NOT_FOUND` or `GW_ERR_KEY_REVOKED`.
 * - Every successful create/update/revoke/rotate is announced to `onChange` listeners of every
 *   instance sharing the store (Redis: pub/sub; SQLite: this process) after it is durable.
 * - Store failures (Redis down) reject with the driver's error; callers map them to 503.
 */
export interface KeyStore {
  readonly kind: 'sqlite' | 'redis'
  create (input: NewKey): Promise<{ record: KeyRecord, secret: string }>
  list (): Promise<KeyRecord[]>
  get (id: string): Promise<KeyRecord | undefined>
  findByHash (hash: string): Promise<FoundKey | undefined>
  update (id: string, patch: KeyPatch): Promise<KeyRecord>
  revoke (id: string): Promise<KeyRecord>
  rotate (id: string, graceSeconds: number): Promise<{ record: KeyRecord, secret: string }>
  /** Subscribes to changes; returns the unsubscribe function. */
  onChange (listener: (change: KeyChange) => void): () => void
  /** Called when changes may have been missed (pub/sub reconnect): reload everything. */
  onResync? (listener: () => void): () => void
  ready (): Promise<boolean>
  close (): Promise<void>
}

/** `sk-` + 43 URL-safe characters: 32 bytes (256 bits) from the CSPRNG, base64url. */
export function generateSecret (): string {
  return 'sk-' + randomBytes(32).toString('base64url')
}

/** The shape every secret `generateSecret` makes; anything else cannot be a stored key. */
export const STORED_SECRET = /^sk-[A-Za-z0-9_-]{43}$/

export function newKeyId (): string {
  return 'key_' + randomBytes(12).toString('hex')
}

/** What the admin lists show of a secret: its first 8 characters (`sk-AbCdE`). */
export function keyPrefix (secret: string): string {
  return secret.slice(0, 8)
}

/** ISO 8601 in UTC, so stored times compare and display the same everywhere. */
export function normalizeTime (iso: string | null | undefined): string | null {
  return iso === null || iso === undefined ? null : new Date(iso).toISOString()
}

/** The record of a new key (fields not given take their defaults). */
export function buildRecord (input: NewKey, secret: string, now: Date = new Date()): KeyRecord {
  return {
    id: newKeyId(),
    name: input.name,
    key_prefix: keyPrefix(secret),
    rpm: input.rpm ?? null,
    tpm: input.tpm ?? null,
    max_concurrency: input.max_concurrency ?? null,
    budget_usd: input.budget_usd ?? null,
    budget_period: input.budget_period ?? 'month',
    models: input.models ?? null,
    routes: input.routes ?? null,
    expires_at: normalizeTime(input.expires_at),
    cache_ttl_seconds: input.cache_ttl_seconds ?? null,
    metadata: input.metadata ?? {},
    team_id: input.team_id ?? null,
    created_at: now.toISOString(),
    revoked_at: null,
    read_only: false
  }
}

/** The record after a patch: absent fields unchanged, null clears. */
export function applyPatch (record: KeyRecord, patch: KeyPatch): KeyRecord {
  const next: KeyRecord = { ...record }
  for (const [field, value] of Object.entries(patch) as Array<[keyof KeyPatch, unknown]>) {
    if (value === undefined) continue
    if (field === 'expires_at') next.expires_at = normalizeTime(value as string | null)
    else if (field === 'budget_period') next.budget_period = (value ?? 'month') as KeyRecord['budget_period']
    else if (field === 'metadata') next.metadata = (value ?? {}) as Record<string, string>
    else if (field === 'name') next.name = value as string
    else (next as Record<string, unknown>)[field] = value
  }
  return next
}
