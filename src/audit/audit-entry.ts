import { randomBytes } from 'node:crypto'
import { z } from 'zod'

export const ACTORS = ['admin_api', 'cli', 'ui'] as const
export const ACTIONS = ['key.create', 'key.update', 'key.rotate', 'key.revoke', 'team.create', 'team.update', 'team.delete'] as const

/**
 * One admin change. `changes` maps each changed field to `[before, after]` (null for a
 * field that did not exist before or after); secrets and hashes never appear in it.
 */
export const auditEntrySchema = z.object({
  id: z.string(),
  object: z.literal('gateway.audit_entry').default('gateway.audit_entry'),
  at: z.string(),
  actor: z.enum(ACTORS),
  action: z.enum(ACTIONS),
  target_type: z.enum(['key', 'team']),
  target_id: z.string(),
  changes: z.record(z.string(), z.tuple([z.unknown(), z.unknown()])),
  request_id: z.string().nullable(),
  ip: z.string().nullable()
})

export type AuditEntry = z.infer<typeof auditEntrySchema>
export type AuditAction = typeof ACTIONS[number]
export type Actor = typeof ACTORS[number]

/** What a query selects; times are ISO 8601, `to` exclusive. */
export interface AuditQuery {
  readonly from?: string
  readonly to?: string
  readonly targetId?: string
  readonly action?: AuditAction
  readonly limit: number
}

/**
 * Where the audit log lives (the same store as keys: SQLite or Redis), so it survives
 * restarts and every instance sees every change.
 * - `append` stores one entry durably (rejects when the store is down).
 * - `query` returns matching entries newest first, at most `limit`.
 */
export interface AuditStore {
  append (entry: AuditEntry): Promise<void>
  query (q: AuditQuery): Promise<AuditEntry[]>
}

/** Fields never written to the log whatever a record holds (defence in depth). */
const SECRET_FIELDS = new Set(['key', 'secret', 'key_hash', 'key_sha256'])

/** `[before, after]` of every field that differs; a missing side is null. */
export function diff (before: Readonly<Record<string, unknown>> | undefined, after: Readonly<Record<string, unknown>> | undefined): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {}
  const fields = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])
  for (const f of fields) {
    if (SECRET_FIELDS.has(f) || f === 'object') continue
    const b = before?.[f] ?? null
    const a = after?.[f] ?? null
    if (JSON.stringify(b) !== JSON.stringify(a)) out[f] = [b, a]
  }
  return out
}

let lastMs = 0
let sequence = 0

/**
 * `aud_` + ms (12 hex) + a per-process sequence (4 hex) + random (8 hex): ids sort in
 * the order this process made the changes, even within one millisecond.
 */
export function newAuditId (atMs: number): string {
  if (atMs === lastMs) sequence++
  else {
    lastMs = atMs
    sequence = 0
  }
  return 'aud_' + atMs.toString(16).padStart(12, '0') + (sequence & 0xffff).toString(16).padStart(4, '0') + randomBytes(4).toString('hex')
}
