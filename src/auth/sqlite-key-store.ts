import { EventEmitter } from 'node:events'
import { gatewayError } from '../errors.js'
import type { Statement } from 'better-sqlite3'
import { migrate, type SqliteDb } from '../store/sqlite.js'
import { hashKey, keyRecordSchema, type KeyRecord } from './key-record.js'
import { applyPatch, buildRecord, generateSecret, keyPrefix, type FoundKey, type KeyChange, type KeyPatch, type KeyStore, type NewKey } from './key-store.js'

/**
 * Versioned schema of the `keys` component (append, never edit). Names are unique among
 * keys that are not revoked (partial index), so revoking a key frees its name.
 */
const MIGRATIONS = [
  `CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    rpm INTEGER, tpm INTEGER, max_concurrency INTEGER,
    budget_usd REAL, budget_period TEXT NOT NULL DEFAULT 'month',
    models TEXT,
    expires_at TEXT,
    cache_ttl_seconds INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );
  CREATE UNIQUE INDEX keys_active_name ON keys (name) WHERE revoked_at IS NULL;`,
  `ALTER TABLE keys ADD COLUMN team_id TEXT;
  CREATE INDEX keys_team ON keys (team_id);`,
  // Old secrets of rotated keys, each working until its grace period ends.
  `CREATE TABLE key_grace (
    key_hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    until TEXT NOT NULL
  );`
]

interface KeyRow {
  id: string
  name: string
  key_prefix: string
  rpm: number | null
  tpm: number | null
  max_concurrency: number | null
  budget_usd: number | null
  budget_period: string
  models: string | null
  expires_at: string | null
  cache_ttl_seconds: number | null
  metadata: string
  team_id: string | null
  created_at: string
  revoked_at: string | null
}

const COLUMNS = 'id, name, key_prefix, rpm, tpm, max_concurrency, budget_usd, budget_period, models, expires_at, cache_ttl_seconds, metadata, team_id, created_at, revoked_at'

function toRecord (row: KeyRow): KeyRecord {
  return keyRecordSchema.parse({
    ...row,
    models: row.models === null ? null : JSON.parse(row.models),
    metadata: JSON.parse(row.metadata)
  })
}

function toParams (r: KeyRecord): Record<string, unknown> {
  const { read_only: _readOnly, ...columns } = r
  return {
    ...columns,
    models: r.models === null ? null : JSON.stringify(r.models),
    metadata: JSON.stringify(r.metadata)
  }
}

function isNameConflict (err: unknown): boolean {
  const e = err as { code?: string, message?: string }
  return e.code === 'SQLITE_CONSTRAINT_UNIQUE' && (e.message ?? '').includes('keys.name')
}

/**
 * The embedded key store: a `keys` table in the gateway's SQLite file (WAL). Changes are
 * announced in-process only; another process sharing the file sees them at the resolver's
 * periodic refresh.
 * @example const store = createSqliteKeyStore(openSqlite(config.DATA_DIR))
 */
export function createSqliteKeyStore (db: SqliteDb): KeyStore {
  migrate(db, 'keys', MIGRATIONS)
  return new SqliteKeyStore(db)
}

class SqliteKeyStore implements KeyStore {
  readonly kind = 'sqlite'
  readonly #events = new EventEmitter()
  readonly #insert: Statement
  readonly #update: Statement
  readonly #byId: Statement
  readonly #byHash: Statement
  readonly #all: Statement
  readonly #rotate: Statement
  readonly #currentHash: Statement
  readonly #keepGrace: Statement
  readonly #purgeGrace: Statement
  readonly #dropGrace: Statement
  readonly #graceByHash: Statement

  constructor (private readonly db: SqliteDb) {
    this.#insert = db.prepare(`INSERT INTO keys (${COLUMNS}, key_hash) VALUES (@id, @name, @key_prefix, @rpm, @tpm, @max_concurrency, @budget_usd, @budget_period, @models, @expires_at, @cache_ttl_seconds, @metadata, @team_id, @created_at, @revoked_at, @key_hash)`)
    this.#update = db.prepare('UPDATE keys SET name = @name, rpm = @rpm, tpm = @tpm, max_concurrency = @max_concurrency, budget_usd = @budget_usd, budget_period = @budget_period, models = @models, expires_at = @expires_at, cache_ttl_seconds = @cache_ttl_seconds, metadata = @metadata, team_id = @team_id, revoked_at = @revoked_at WHERE id = @id')
    this.#rotate = db.prepare('UPDATE keys SET key_hash = @key_hash, key_prefix = @key_prefix WHERE id = @id')
    this.#currentHash = db.prepare('SELECT key_hash FROM keys WHERE id = ?').pluck()
    this.#keepGrace = db.prepare('INSERT OR REPLACE INTO key_grace (key_hash, key_id, until) VALUES (?, ?, ?)')
    this.#purgeGrace = db.prepare('DELETE FROM key_grace WHERE until <= ?')
    this.#dropGrace = db.prepare('DELETE FROM key_grace WHERE key_id = ?')
    this.#graceByHash = db.prepare('SELECT key_id, until FROM key_grace WHERE key_hash = ? AND until > ?')
    this.#byId = db.prepare(`SELECT ${COLUMNS} FROM keys WHERE id = ?`)
    this.#byHash = db.prepare(`SELECT ${COLUMNS} FROM keys WHERE key_hash = ?`)
    this.#all = db.prepare(`SELECT ${COLUMNS} FROM keys ORDER BY created_at, id`)
  }

  async create (input: NewKey): Promise<{ record: KeyRecord, secret: string }> {
    const secret = generateSecret()
    const record = buildRecord(input, secret)
    this.#write(record, () => this.#insert.run({ ...toParams(record), key_hash: hashKey(secret) }))
    this.#events.emit('change', { id: record.id, kind: 'created' } satisfies KeyChange)
    return { record, secret }
  }

  async list (): Promise<KeyRecord[]> {
    return (this.#all.all() as KeyRow[]).map(toRecord)
  }

  async get (id: string): Promise<KeyRecord | undefined> {
    return this.#row(this.#byId, id)
  }

  async findByHash (hash: string): Promise<FoundKey | undefined> {
    const record = this.#row(this.#byHash, hash)
    if (record !== undefined) return { record }
    const grace = this.#graceByHash.get(hash, new Date().toISOString()) as { key_id: string, until: string } | undefined
    if (grace === undefined) return undefined
    const old = this.#row(this.#byId, grace.key_id)
    return old === undefined ? undefined : { record: old, graceUntil: grace.until }
  }

  async rotate (id: string, graceSeconds: number): Promise<{ record: KeyRecord, secret: string }> {
    const secret = generateSecret()
    const now = Date.now()
    const next = this.db.transaction(() => {
      const current = this.#row(this.#byId, id)
      if (current === undefined) throw gatewayError('GW_ERR_KEY_NOT_FOUND', [id])
      if (current.revoked_at !== null) throw gatewayError('GW_ERR_KEY_REVOKED', [id])
      const oldHash = this.#currentHash.get(id) as string
      this.#purgeGrace.run(new Date(now).toISOString())
      // Only the secret just replaced keeps a grace period: a leaked one rotated twice stops.
      this.#dropGrace.run(id)
      if (graceSeconds > 0) this.#keepGrace.run(oldHash, id, new Date(now + graceSeconds * 1000).toISOString())
      const record = { ...current, key_prefix: keyPrefix(secret) }
      this.#rotate.run({ id, key_hash: hashKey(secret), key_prefix: record.key_prefix })
      return record
    })()
    this.#events.emit('change', { id, kind: 'rotated' } satisfies KeyChange)
    return { record: next, secret }
  }

  async update (id: string, patch: KeyPatch): Promise<KeyRecord> {
    const current = this.#row(this.#byId, id)
    if (current === undefined) throw gatewayError('GW_ERR_KEY_NOT_FOUND', [id])
    if (current.revoked_at !== null) throw gatewayError('GW_ERR_KEY_REVOKED', [id])
    const next = applyPatch(current, patch)
    this.#write(next, () => this.#update.run(toParams(next)))
    this.#events.emit('change', { id, kind: 'updated' } satisfies KeyChange)
    return next
  }

  async revoke (id: string): Promise<KeyRecord> {
    const current = this.#row(this.#byId, id)
    if (current === undefined) throw gatewayError('GW_ERR_KEY_NOT_FOUND', [id])
    if (current.revoked_at !== null) return current
    const next = { ...current, revoked_at: new Date().toISOString() }
    this.#write(next, () => this.#update.run(toParams(next)))
    this.#events.emit('change', { id, kind: 'revoked' } satisfies KeyChange)
    return next
  }

  #row (statement: Statement, arg: string): KeyRecord | undefined {
    const row = statement.get(arg) as KeyRow | undefined
    return row === undefined ? undefined : toRecord(row)
  }

  /** Runs a write; the partial unique index on active names turns into a 409. */
  #write (record: KeyRecord, run: () => void): void {
    try {
      run()
    } catch (err) {
      if (isNameConflict(err)) throw gatewayError('GW_ERR_KEY_NAME_TAKEN', [record.name], { param: 'name' })
      throw err
    }
  }

  onChange (listener: (change: KeyChange) => void): () => void {
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
