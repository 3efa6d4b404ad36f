import { EventEmitter } from 'node:events'
import { gatewayError } from '../errors.js'
import { migrate, type SqliteDb } from '../store/sqlite.js'
import { hashKey, keyRecordSchema, type KeyRecord } from './key-record.js'
import { applyPatch, buildRecord, generateSecret, type KeyChange, type KeyPatch, type KeyStore, type NewKey } from './key-store.js'

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
  CREATE UNIQUE INDEX keys_active_name ON keys (name) WHERE revoked_at IS NULL;`
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
  created_at: string
  revoked_at: string | null
}

const COLUMNS = 'id, name, key_prefix, rpm, tpm, max_concurrency, budget_usd, budget_period, models, expires_at, cache_ttl_seconds, metadata, created_at, revoked_at'

function toRecord (row: KeyRow): KeyRecord {
  return keyRecordSchema.parse({
    ...row,
    models: row.models === null ? null : JSON.parse(row.models),
    metadata: JSON.parse(row.metadata)
  })
}

function toParams (r: KeyRecord): Record<string, unknown> {
  return {
    ...r,
    models: r.models === null ? null : JSON.stringify(r.models),
    metadata: JSON.stringify(r.metadata),
    read_only: undefined
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
  const events = new EventEmitter()
  const insert = db.prepare(`INSERT INTO keys (${COLUMNS}, key_hash) VALUES (@id, @name, @key_prefix, @rpm, @tpm, @max_concurrency, @budget_usd, @budget_period, @models, @expires_at, @cache_ttl_seconds, @metadata, @created_at, @revoked_at, @key_hash)`)
  const update = db.prepare('UPDATE keys SET name = @name, rpm = @rpm, tpm = @tpm, max_concurrency = @max_concurrency, budget_usd = @budget_usd, budget_period = @budget_period, models = @models, expires_at = @expires_at, cache_ttl_seconds = @cache_ttl_seconds, metadata = @metadata, revoked_at = @revoked_at WHERE id = @id')
  const byId = db.prepare(`SELECT ${COLUMNS} FROM keys WHERE id = ?`)
  const byHash = db.prepare(`SELECT ${COLUMNS} FROM keys WHERE key_hash = ?`)
  const all = db.prepare(`SELECT ${COLUMNS} FROM keys ORDER BY created_at, id`)
  const announce = (change: KeyChange): void => { events.emit('change', change) }

  const get = (id: string): KeyRecord | undefined => {
    const row = byId.get(id) as KeyRow | undefined
    return row === undefined ? undefined : toRecord(row)
  }
  const write = (record: KeyRecord): void => {
    try {
      update.run(toParams(record))
    } catch (err) {
      if (isNameConflict(err)) throw gatewayError('GW_ERR_KEY_NAME_TAKEN', [record.name], { param: 'name' })
      throw err
    }
  }

  return {
    kind: 'sqlite',
    async create (input: NewKey) {
      const secret = generateSecret()
      const record = buildRecord(input, secret)
      try {
        insert.run({ ...toParams(record), key_hash: hashKey(secret) })
      } catch (err) {
        if (isNameConflict(err)) throw gatewayError('GW_ERR_KEY_NAME_TAKEN', [input.name], { param: 'name' })
        throw err
      }
      announce({ id: record.id, kind: 'created' })
      return { record, secret }
    },
    async list () { return (all.all() as KeyRow[]).map(toRecord) },
    async get (id) { return get(id) },
    async findByHash (hash) {
      const row = byHash.get(hash) as KeyRow | undefined
      return row === undefined ? undefined : toRecord(row)
    },
    async update (id: string, patch: KeyPatch) {
      const current = get(id)
      if (current === undefined) throw gatewayError('GW_ERR_KEY_NOT_FOUND', [id])
      if (current.revoked_at !== null) throw gatewayError('GW_ERR_KEY_REVOKED', [id])
      const next = applyPatch(current, patch)
      write(next)
      announce({ id, kind: 'updated' })
      return next
    },
    async revoke (id: string) {
      const current = get(id)
      if (current === undefined) throw gatewayError('GW_ERR_KEY_NOT_FOUND', [id])
      if (current.revoked_at !== null) return current
      const next = { ...current, revoked_at: new Date().toISOString() }
      write(next)
      announce({ id, kind: 'revoked' })
      return next
    },
    onChange (listener) {
      events.on('change', listener)
      return () => { events.off('change', listener) }
    },
    async ready () { return db.open },
    async close () { events.removeAllListeners() }
  }
}
