import { migrate, type SqliteDb } from '../store/sqlite.js'
import { auditEntrySchema, type AuditEntry, type AuditStore } from './audit-entry.js'

/** Versioned schema of the `audit` component (append, never edit). */
const MIGRATIONS = [
  `CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    changes TEXT NOT NULL,
    request_id TEXT,
    ip TEXT
  );
  CREATE INDEX audit_log_at ON audit_log (at);
  CREATE INDEX audit_log_target ON audit_log (target_id, at);`
]

interface Row extends Omit<AuditEntry, 'changes' | 'object'> { changes: string }

/**
 * The embedded audit log: a table in the gateway's SQLite file.
 * @example const audit = sqliteAuditStore(db)
 */
export function sqliteAuditStore (db: SqliteDb): AuditStore {
  migrate(db, 'audit', MIGRATIONS)
  const insert = db.prepare('INSERT INTO audit_log (id, at, actor, action, target_type, target_id, changes, request_id, ip) VALUES (@id, @at, @actor, @action, @target_type, @target_id, @changes, @request_id, @ip)')
  return {
    async append (e) {
      const { object: _object, ...columns } = e
      insert.run({ ...columns, changes: JSON.stringify(e.changes) })
    },
    async query (q) {
      const where: string[] = []
      const args: Record<string, unknown> = { limit: q.limit }
      if (q.from !== undefined) { where.push('at >= @from'); args.from = q.from }
      if (q.to !== undefined) { where.push('at < @to'); args.to = q.to }
      if (q.targetId !== undefined) { where.push('target_id = @target'); args.target = q.targetId }
      if (q.action !== undefined) { where.push('action = @action'); args.action = q.action }
      const sql = `SELECT * FROM audit_log ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY at DESC, id DESC LIMIT @limit`
      return (db.prepare(sql).all(args) as Row[]).map((r) => auditEntrySchema.parse({ ...r, changes: JSON.parse(r.changes) }))
    }
  }
}
