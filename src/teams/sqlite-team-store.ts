import { EventEmitter } from 'node:events'
import type { Statement } from 'better-sqlite3'
import { gatewayError } from '../errors.js'
import { migrate, type SqliteDb } from '../store/sqlite.js'
import { applyTeamPatch, buildTeam, teamRecordSchema, type NewTeam, type TeamPatch, type TeamRecord } from './team-record.js'
import type { TeamChange, TeamStore } from './team-store.js'

/** Versioned schema of the `teams` component (append, never edit). */
const MIGRATIONS = [
  `CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    rpm INTEGER, tpm INTEGER, max_concurrency INTEGER,
    budget_usd REAL, budget_period TEXT NOT NULL DEFAULT 'month',
    models TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
  );`
]

interface TeamRow extends Omit<TeamRecord, 'models' | 'metadata' | 'budget_period'> {
  models: string | null
  metadata: string
  budget_period: string
}

const COLUMNS = 'id, name, rpm, tpm, max_concurrency, budget_usd, budget_period, models, metadata, created_at'

function toRecord (row: TeamRow): TeamRecord {
  return teamRecordSchema.parse({ ...row, models: row.models === null ? null : JSON.parse(row.models), metadata: JSON.parse(row.metadata) })
}

function toParams (t: TeamRecord): Record<string, unknown> {
  return { ...t, models: t.models === null ? null : JSON.stringify(t.models), metadata: JSON.stringify(t.metadata) }
}

function isNameConflict (err: unknown): boolean {
  const e = err as { code?: string, message?: string }
  return e.code === 'SQLITE_CONSTRAINT_UNIQUE' && (e.message ?? '').includes('teams.name')
}

/**
 * The embedded team store: a `teams` table in the gateway's SQLite file. Changes are
 * announced in-process.
 * @example const teams = createSqliteTeamStore(openSqlite(config.DATA_DIR))
 */
export function createSqliteTeamStore (db: SqliteDb): TeamStore {
  migrate(db, 'teams', MIGRATIONS)
  return new SqliteTeamStore(db)
}

class SqliteTeamStore implements TeamStore {
  readonly kind = 'sqlite'
  readonly #events = new EventEmitter()
  readonly #insert: Statement
  readonly #update: Statement
  readonly #delete: Statement
  readonly #byId: Statement
  readonly #all: Statement

  constructor (private readonly db: SqliteDb) {
    this.#insert = db.prepare(`INSERT INTO teams (${COLUMNS}) VALUES (@id, @name, @rpm, @tpm, @max_concurrency, @budget_usd, @budget_period, @models, @metadata, @created_at)`)
    this.#update = db.prepare('UPDATE teams SET name = @name, rpm = @rpm, tpm = @tpm, max_concurrency = @max_concurrency, budget_usd = @budget_usd, budget_period = @budget_period, models = @models, metadata = @metadata WHERE id = @id')
    this.#delete = db.prepare('DELETE FROM teams WHERE id = ?')
    this.#byId = db.prepare(`SELECT ${COLUMNS} FROM teams WHERE id = ?`)
    this.#all = db.prepare(`SELECT ${COLUMNS} FROM teams ORDER BY created_at, id`)
  }

  async create (input: NewTeam): Promise<TeamRecord> {
    const record = buildTeam(input)
    this.#write(record, () => this.#insert.run(toParams(record)))
    this.#emit({ id: record.id, kind: 'created', record })
    return record
  }

  async list (): Promise<TeamRecord[]> {
    return (this.#all.all() as TeamRow[]).map(toRecord)
  }

  async get (id: string): Promise<TeamRecord | undefined> {
    const row = this.#byId.get(id) as TeamRow | undefined
    return row === undefined ? undefined : toRecord(row)
  }

  async update (id: string, patch: TeamPatch): Promise<TeamRecord> {
    const current = await this.get(id)
    if (current === undefined) throw gatewayError('GW_ERR_TEAM_NOT_FOUND', [id])
    const next = applyTeamPatch(current, patch)
    this.#write(next, () => this.#update.run(toParams(next)))
    this.#emit({ id, kind: 'updated', record: next })
    return next
  }

  async delete (id: string): Promise<TeamRecord> {
    const current = await this.get(id)
    if (current === undefined) throw gatewayError('GW_ERR_TEAM_NOT_FOUND', [id])
    this.#delete.run(id)
    this.#emit({ id, kind: 'deleted' })
    return current
  }

  #write (record: TeamRecord, run: () => void): void {
    try {
      run()
    } catch (err) {
      if (isNameConflict(err)) throw gatewayError('GW_ERR_TEAM_NAME_TAKEN', [record.name], { param: 'name' })
      throw err
    }
  }

  #emit (change: TeamChange): void {
    this.#events.emit('change', change)
  }

  onChange (listener: (change: TeamChange) => void): () => void {
    this.#events.on('change', listener)
    return () => { this.#events.off('change', listener) }
  }

  async ready (): Promise<boolean> {
    return this.db.open
  }

  async close (): Promise<void> {
    this.#events.removeAllListeners()
  }
}
