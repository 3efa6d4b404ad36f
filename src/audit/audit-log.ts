import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { z } from 'zod'
import { gatewayError } from '../errors.js'
import { ACTIONS, ACTORS, diff, newAuditId, type Actor, type AuditAction, type AuditStore } from './audit-entry.js'

/** The header the CLI and the web page name themselves with (trusted on admin-authenticated requests only). */
export const ACTOR_HEADER = 'x-gateway-actor'

export interface AuditChange {
  readonly action: AuditAction
  readonly targetType: 'key' | 'team'
  readonly targetId: string
  /** The object before the change (absent on create) and after (absent on delete), as the admin API shows it. */
  readonly before?: Readonly<Record<string, unknown>>
  readonly after?: Readonly<Record<string, unknown>>
  /** Fields to record even when they did not change (e.g. a rotation's grace period). */
  readonly extra?: Record<string, [unknown, unknown]>
}

/** What admin routes call after a change went through. */
export interface AuditLog {
  /** Records one change; never throws (a change already made is not undone by a log failure). */
  record (request: FastifyRequest, change: AuditChange): Promise<void>
}

function actorOf (request: FastifyRequest): Actor {
  const h = request.headers[ACTOR_HEADER]
  const v = typeof h === 'string' ? h.trim().toLowerCase() : ''
  return (ACTORS as readonly string[]).includes(v) ? v as Actor : 'admin_api'
}

/**
 * The audit log over its store. Only admin routes call it, after the admin key was
 * checked, which is why the actor header can be believed: it only tells which admin tool
 * made the call, never grants anything.
 * @example const audit = auditLog(sqliteAuditStore(db), log); await audit.record(request, { action: 'key.create', … })
 */
export function auditLog (store: AuditStore, log: Logger): AuditLog {
  return {
    async record (request, c) {
      const atMs = Date.now()
      const entry = {
        id: newAuditId(atMs),
        object: 'gateway.audit_entry' as const,
        at: new Date(atMs).toISOString(),
        actor: actorOf(request),
        action: c.action,
        target_type: c.targetType,
        target_id: c.targetId,
        changes: { ...diff(c.before, c.after), ...c.extra },
        request_id: request.id,
        ip: request.ip ?? null
      }
      try {
        await store.append(entry)
      } catch (err) {
        log.error({ err: (err as Error).message, action: c.action, targetId: c.targetId, reqId: request.id }, 'audit entry not stored')
      }
    }
  }
}

/** A date (`YYYY-MM-DD`, UTC) or an ISO 8601 time; `endOfDay` makes a date mean its end (for `to`). */
const when = (endOfDay: boolean) => z.string().transform((s, ctx) => {
  const isDay = /^\d{4}-\d{2}-\d{2}$/.test(s)
  const ms = Date.parse(isDay ? s + 'T00:00:00Z' : s)
  if (Number.isNaN(ms) || (!isDay && !/^\d{4}-\d{2}-\d{2}T/.test(s))) {
    ctx.addIssue({ code: 'custom', message: 'must be a date (YYYY-MM-DD) or an ISO 8601 time' })
    return z.NEVER
  }
  return new Date(isDay && endOfDay ? ms + 86_400_000 : ms).toISOString()
})

const auditQuerySchema = z.strictObject({
  from: when(false).optional(),
  /** Inclusive for a date (the whole day), exclusive for a time. */
  to: when(true).optional(),
  target_id: z.string().min(1).max(200).optional(),
  action: z.enum(ACTIONS).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100)
})

/**
 * `GET /admin/audit?from&to&target_id&action&limit`, newest first.
 * @example admin.register(auditRoutes(store))
 */
export function auditRoutes (store: AuditStore) {
  return async function routes (admin: FastifyInstance): Promise<void> {
    admin.get('/audit', async (request) => {
      const parsed = auditQuerySchema.safeParse(request.query ?? {})
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!
        const param = issue.code === 'unrecognized_keys' ? issue.keys[0]! : String(issue.path[0] ?? 'query')
        throw gatewayError('GW_ERR_BAD_REQUEST', [`${param}: ${issue.message}`], { param })
      }
      const q = parsed.data
      let data
      try {
        data = await store.query({ from: q.from, to: q.to, targetId: q.target_id, action: q.action, limit: q.limit })
      } catch (err) {
        throw gatewayError('GW_ERR_STORE_UNAVAILABLE', [(err as { code?: string }).code ?? 'no answer'], { cause: err })
      }
      return { object: 'list', data }
    })
  }
}
