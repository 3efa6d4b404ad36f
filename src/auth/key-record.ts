import { hash } from 'node:crypto'
import { z } from 'zod'
import { budgetPeriodSchema } from '../config/schema.js'
import type { TeamLimits } from './principal.js'

/**
 * A gateway key as the hot path sees it. The secret itself is never kept: only its
 * SHA-256 (see `hashKey`) in the store, and `key_prefix` for display.
 */
export const keyRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  key_prefix: z.string(),
  rpm: z.number().int().positive().nullable().default(null),
  tpm: z.number().int().positive().nullable().default(null),
  max_concurrency: z.number().int().positive().nullable().default(null),
  budget_usd: z.number().nonnegative().nullable().default(null),
  budget_period: budgetPeriodSchema.default('month'),
  /** Allow-list of model names and `*` patterns; null or empty = every model. */
  models: z.array(z.string()).nullable().default(null),
  /** Path patterns below /v1 the key may call (`*` wildcards); null = the default set. */
  routes: z.array(z.string()).nullable().default(null),
  expires_at: z.string().nullable().default(null),
  cache_ttl_seconds: z.number().int().nonnegative().nullable().default(null),
  metadata: z.record(z.string(), z.string()).default({}),
  /** The team the key belongs to (its limits, budget and models apply too); null = none. */
  team_id: z.string().nullable().default(null),
  created_at: z.string(),
  revoked_at: z.string().nullable().default(null),
  /** Declared in the config file: listed by the admin API, never changed by it. */
  read_only: z.boolean().default(false)
})

export type KeyRecord = z.infer<typeof keyRecordSchema>

/**
 * SHA-256 of a key secret, hex. Gateway keys carry at least 192 bits of randomness, so a
 * fast hash is right here: a slow password hash only helps against guessable secrets,
 * and it would put milliseconds of CPU on every request.
 */
export function hashKey (secret: string): string {
  // One-shot: no Hash object per request (~3× cheaper than createHash, bench/micro/auth.ts).
  return hash('sha256', secret, 'hex')
}

/** True when the key may be used at `nowMs`: not revoked and not expired. */
export function isKeyActive (key: KeyRecord, nowMs: number): boolean {
  if (key.revoked_at !== null) return false
  return key.expires_at === null || Date.parse(key.expires_at) > nowMs
}

/**
 * Resolves a presented secret to its key record. Implementations keep the hot path off
 * the store (an in-process cache with invalidation); `undefined` means unknown.
 * Revoked and expired keys may be returned: the caller checks `isKeyActive`.
 */
export interface KeyResolver {
  resolve (secret: string): KeyRecord | undefined | Promise<KeyRecord | undefined>
  /**
   * The team of a key, from memory (a Promise only for a team this process has not seen
   * yet); undefined when it no longer exists. Absent: keys have no teams.
   */
  team? (teamId: string): TeamLimits | undefined | Promise<TeamLimits | undefined>
  close? (): Promise<void>
}
