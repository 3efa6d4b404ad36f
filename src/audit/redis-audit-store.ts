import type { RedisClient } from '../store/redis.js'
import { auditEntrySchema, type AuditEntry, type AuditStore } from './audit-entry.js'

/**
 * The audit log in Redis: one sorted set, member = entry JSON, score = epoch ms, so a
 * time range is one ZRANGE and newest first is its reverse.
 *
 *   gw:audit   ZSET  score at-ms → entry JSON
 *
 * Filters by target and action are applied while paging through the range (admin reads
 * are rare; writes stay one command).
 */
const AUDIT = 'gw:audit'
const PAGE = 500

/**
 * @example const audit = redisAuditStore(adminConnection)
 */
export function redisAuditStore (redis: RedisClient): AuditStore {
  return {
    async append (e) {
      await redis.zadd(AUDIT, Date.parse(e.at), JSON.stringify(e))
    },
    async query (q) {
      const max = q.to === undefined ? '+inf' : `(${Date.parse(q.to)}`
      const min = q.from === undefined ? '-inf' : String(Date.parse(q.from))
      const out: AuditEntry[] = []
      for (let offset = 0; out.length < q.limit; offset += PAGE) {
        const page = await redis.zrevrangebyscore(AUDIT, max, min, 'LIMIT', offset, PAGE)
        for (const json of page) {
          const e = auditEntrySchema.parse(JSON.parse(json))
          if (q.targetId !== undefined && e.target_id !== q.targetId) continue
          if (q.action !== undefined && e.action !== q.action) continue
          out.push(e)
          if (out.length >= q.limit) break
        }
        if (page.length < PAGE) break
      }
      return out
    }
  }
}
