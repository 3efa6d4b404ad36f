import type { FeatureContext } from '../feature.js'
import type { AuditStore } from './audit-entry.js'
import { redisAuditStore } from './redis-audit-store.js'
import { sqliteAuditStore } from './sqlite-audit-store.js'

/** The audit log's store, beside the keys: Redis when configured, else the embedded SQLite file. */
export function openAuditStore (ctx: FeatureContext): AuditStore {
  if (ctx.redis !== undefined) return redisAuditStore(ctx.redis)
  if (ctx.sqlite !== undefined) return sqliteAuditStore(ctx.sqlite)
  throw new Error('audit: no store (neither Redis nor SQLite is configured)')
}
