import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

export type SqliteDb = Database.Database

/**
 * Opens (creating if needed) the embedded store `DATA_DIR/gateway.db` in WAL mode, so
 * readers never block the writer and a crash loses at most the last transaction.
 * @example const db = openSqlite(config.DATA_DIR)
 */
export function openSqlite (dataDir: string): SqliteDb {
  mkdirSync(dataDir, { recursive: true })
  const db = new Database(join(dataDir, 'gateway.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))')
  return db
}

/**
 * Applies, in order and once each, the migrations of one component (`keys`, `ledger`, …).
 * Migrations are versioned in code: entry i is version i + 1; never edit a released one,
 * append a new one.
 */
export function migrate (db: SqliteDb, component: string, migrations: readonly string[]): void {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE component = ?').get(component) as { v: number | null }
  const current = row.v ?? 0
  const record = db.prepare('INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)')
  for (let v = current + 1; v <= migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v - 1]!)
      record.run(component, v, new Date().toISOString())
    })()
  }
}
