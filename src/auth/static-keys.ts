import type { FileKey } from '../config/schema.js'
import { hashKey, keyRecordSchema, type KeyRecord } from './key-record.js'

/**
 * Key records for the keys declared in the config file; ids are stable across restarts.
 * Such a key exists from the moment the gateway loads the file, so that is its
 * `created_at` (the file says nothing of when a line was written).
 */
export function staticKeyRecords (keys: readonly FileKey[], loadedAt: Date = new Date()): Map<string, KeyRecord> {
  const byHash = new Map<string, KeyRecord>()
  for (const k of keys) {
    const hash = (k.key_sha256 ?? hashKey(k.key!)).toLowerCase()
    const record = keyRecordSchema.parse({
      id: 'static_' + hash.slice(0, 16),
      name: k.name,
      key_prefix: k.key !== undefined ? k.key.slice(0, 8) : '',
      rpm: k.rpm ?? null,
      tpm: k.tpm ?? null,
      max_concurrency: k.max_concurrency ?? null,
      budget_usd: k.budget_usd ?? null,
      budget_period: k.budget_period ?? 'month',
      models: k.models ?? null,
      expires_at: k.expires_at ?? null,
      cache_ttl_seconds: k.cache_ttl_seconds ?? null,
      metadata: k.metadata ?? {},
      created_at: loadedAt.toISOString(),
      revoked_at: null,
      read_only: true
    })
    byHash.set(hash, record)
  }
  return byHash
}
