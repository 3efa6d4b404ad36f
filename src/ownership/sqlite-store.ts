import type { Statement } from 'better-sqlite3'
import type { TokenUsage } from '../metering/usage.js'
import { migrate, type SqliteDb } from '../store/sqlite.js'
import { highest, rise, ZERO } from './batch-usage.js'
import { checkLookupSize, MAX_LIST, ownedObjectSchema, type OwnedObject, type OwnerQuery, type OwnershipStore } from './store.js'

/** Versioned schema of the `ownership` component (append, never edit). */
const MIGRATIONS = [
  `CREATE TABLE owned_objects (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    owner_key_id TEXT NOT NULL,
    owner_key_name TEXT NOT NULL,
    owner_team_id TEXT,
    parent_id TEXT,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX owned_objects_key ON owned_objects (owner_key_id, created_at);
  CREATE INDEX owned_objects_team ON owned_objects (owner_team_id, created_at) WHERE owner_team_id IS NOT NULL;
  CREATE TABLE billed_batches (
    batch_id TEXT PRIMARY KEY,
    input INTEGER NOT NULL, cached INTEGER NOT NULL, output INTEGER NOT NULL, reasoning INTEGER NOT NULL
  ) WITHOUT ROWID;`,
  'CREATE INDEX owned_objects_age ON owned_objects (collection, created_at);'
]

interface Row {
  id: string
  collection: string
  owner_key_id: string
  owner_key_name: string
  owner_team_id: string | null
  parent_id: string | null
  created_at: number
}

const COLUMNS = 'id, collection, owner_key_id, owner_key_name, owner_team_id, parent_id, created_at'

function toObject (r: Row): OwnedObject {
  return ownedObjectSchema.parse({ id: r.id, collection: r.collection, ownerKeyId: r.owner_key_id, ownerKeyName: r.owner_key_name, ownerTeamId: r.owner_team_id, parentId: r.parent_id, createdAt: r.created_at })
}

/** Ids per `IN (…)` query: under SQLite's default limit of bound parameters. */
const CHUNK = 500

/**
 * The embedded ownership store: two tables in the gateway's SQLite file. Lookups go by
 * primary key; listings by the (owner, created_at) indexes.
 * @example const store = createSqliteOwnershipStore(openSqlite(config.DATA_DIR))
 */
export function createSqliteOwnershipStore (db: SqliteDb): OwnershipStore {
  migrate(db, 'ownership', MIGRATIONS)
  return new SqliteOwnershipStore(db)
}

class SqliteOwnershipStore implements OwnershipStore {
  readonly kind = 'sqlite'
  readonly #insert: Statement
  readonly #chunk: Statement
  readonly #remove: Statement
  readonly #prune: Statement
  readonly #billed: Statement
  readonly #setBilled: Statement
  readonly #byId = new Map<number, Statement>()
  readonly #recordMany: (objects: readonly OwnedObject[]) => void
  readonly #raise: (batchId: string, seen: TokenUsage) => TokenUsage

  constructor (private readonly db: SqliteDb) {
    // First owner wins: a second record of the same id is ignored.
    this.#insert = db.prepare(`INSERT OR IGNORE INTO owned_objects (${COLUMNS}) VALUES (@id, @collection, @owner_key_id, @owner_key_name, @owner_team_id, @parent_id, @created_at)`)
    this.#chunk = this.#lookupStatement(CHUNK)
    this.#remove = db.prepare('DELETE FROM owned_objects WHERE id = ?')
    this.#prune = db.prepare('DELETE FROM owned_objects WHERE id IN (SELECT id FROM owned_objects WHERE collection = ? AND created_at < ? ORDER BY created_at LIMIT ?)')
    this.#billed = db.prepare('SELECT input, cached, output, reasoning FROM billed_batches WHERE batch_id = ?')
    this.#setBilled = db.prepare('INSERT INTO billed_batches (batch_id, input, cached, output, reasoning) VALUES (@batchId, @input, @cached, @output, @reasoning) ON CONFLICT (batch_id) DO UPDATE SET input = excluded.input, cached = excluded.cached, output = excluded.output, reasoning = excluded.reasoning')
    this.#recordMany = db.transaction((objects: readonly OwnedObject[]) => {
      for (const o of objects) this.#insert.run({ id: o.id, collection: o.collection, owner_key_id: o.ownerKeyId, owner_key_name: o.ownerKeyName, owner_team_id: o.ownerTeamId, parent_id: o.parentId, created_at: o.createdAt })
    })
    // Read and write in one transaction: another process on the same file waits (busy_timeout).
    this.#raise = db.transaction((batchId: string, seen: TokenUsage): TokenUsage => {
      const billed = (this.#billed.get(batchId) as TokenUsage | undefined) ?? ZERO
      const up = rise(billed, seen)
      if (up.input > 0 || up.cached > 0 || up.output > 0 || up.reasoning > 0) this.#setBilled.run({ batchId, ...highest(billed, seen) })
      return up
    }).immediate as (batchId: string, seen: TokenUsage) => TokenUsage
  }

  #lookupStatement (n: number): Statement {
    let s = this.#byId.get(n)
    if (s === undefined) {
      s = this.db.prepare(`SELECT ${COLUMNS} FROM owned_objects WHERE id IN (${new Array(n).fill('?').join(',')})`)
      this.#byId.set(n, s)
    }
    return s
  }

  async record (objects: readonly OwnedObject[]): Promise<void> {
    if (objects.length > 0) this.#recordMany(objects)
  }

  async lookup (ids: readonly string[]): Promise<Map<string, OwnedObject>> {
    checkLookupSize(ids)
    const out = new Map<string, OwnedObject>()
    const unique = [...new Set(ids)]
    for (let i = 0; i < unique.length; i += CHUNK) {
      const part = unique.slice(i, i + CHUNK)
      // Small lookups (the usual 1–3 ids) get a statement of their own size, cached; the tail of a big one too.
      const statement = part.length === CHUNK ? this.#chunk : this.#lookupStatement(part.length <= 8 ? part.length : CHUNK)
      const args = part.length <= 8 || part.length === CHUNK ? part : [...part, ...new Array(CHUNK - part.length).fill(null)]
      for (const row of statement.all(...args) as Row[]) out.set(row.id, toObject(row))
    }
    return out
  }

  async listByOwner (q: OwnerQuery): Promise<OwnedObject[]> {
    const limit = Math.max(0, Math.min(q.limit, MAX_LIST))
    const where: string[] = []
    const args: Array<string | number> = []
    if (q.teamId !== undefined && q.teamId !== null) {
      where.push('(owner_key_id = ? OR owner_team_id = ?)')
      args.push(q.keyId, q.teamId)
    } else {
      where.push('owner_key_id = ?')
      args.push(q.keyId)
    }
    if (q.collection !== undefined) { where.push('collection = ?'); args.push(q.collection) }
    if (q.before !== undefined) { where.push('created_at < ?'); args.push(q.before) }
    const rows = this.db.prepare(`SELECT ${COLUMNS} FROM owned_objects WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`).all(...args, limit) as Row[]
    return rows.map(toObject)
  }

  async remove (id: string): Promise<void> {
    this.#remove.run(id)
  }

  async prune (collection: OwnedObject['collection'], before: number, limit: number): Promise<number> {
    return this.#prune.run(collection, before, Math.min(limit, MAX_LIST)).changes
  }

  async raiseBilled (batchId: string, seen: TokenUsage): Promise<TokenUsage> {
    return this.#raise(batchId, seen)
  }

  async ready (): Promise<boolean> {
    return this.db.open
  }

  async close (): Promise<void> {}
}
