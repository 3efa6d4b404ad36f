import { migrate, type SqliteDb } from '../store/sqlite.js'
import type { LedgerStore } from './ledger.js'
import { periodDays, type LedgerRow } from './record.js'

/** Versioned: append, never edit (see `migrate`). */
const MIGRATIONS = [
  `CREATE TABLE spend_ledger (
     key_id TEXT NOT NULL,
     key_name TEXT NOT NULL,
     model TEXT NOT NULL,
     day TEXT NOT NULL,
     requests INTEGER NOT NULL DEFAULT 0,
     input_tokens INTEGER NOT NULL DEFAULT 0,
     cached_input_tokens INTEGER NOT NULL DEFAULT 0,
     output_tokens INTEGER NOT NULL DEFAULT 0,
     reasoning_tokens INTEGER NOT NULL DEFAULT 0,
     cost_nanos INTEGER NOT NULL DEFAULT 0,
     cache_hits INTEGER NOT NULL DEFAULT 0,
     saved_nanos INTEGER NOT NULL DEFAULT 0,
     estimated INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (key_id, model, day)
   );
   CREATE INDEX spend_ledger_key_day ON spend_ledger (key_id, day);
   CREATE INDEX spend_ledger_day ON spend_ledger (day);`
]

const COLUMNS = 'key_id AS keyId, key_name AS keyName, model, day, requests, input_tokens AS inputTokens, cached_input_tokens AS cachedInputTokens, output_tokens AS outputTokens, reasoning_tokens AS reasoningTokens, cost_nanos AS costNanos, cache_hits AS cacheHits, saved_nanos AS savedNanos, estimated'

/**
 * The embedded ledger: one row per key × model × UTC day in `DATA_DIR/gateway.db`,
 * upserted in one transaction per batch (atomic, so a batch is applied once or not at
 * all and needs no id). Durable across restarts.
 * @example const ledger = bufferedLedger(sqliteLedgerStore(db), { log, metrics })
 */
export function sqliteLedgerStore (db: SqliteDb): LedgerStore {
  migrate(db, 'ledger', MIGRATIONS)
  const upsert = db.prepare(`INSERT INTO spend_ledger (key_id, key_name, model, day, requests, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_nanos, cache_hits, saved_nanos, estimated)
    VALUES (@keyId, @keyName, @model, @day, @requests, @inputTokens, @cachedInputTokens, @outputTokens, @reasoningTokens, @costNanos, @cacheHits, @savedNanos, @estimated)
    ON CONFLICT (key_id, model, day) DO UPDATE SET
      key_name = excluded.key_name,
      requests = requests + excluded.requests,
      input_tokens = input_tokens + excluded.input_tokens,
      cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
      output_tokens = output_tokens + excluded.output_tokens,
      reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
      cost_nanos = cost_nanos + excluded.cost_nanos,
      cache_hits = cache_hits + excluded.cache_hits,
      saved_nanos = saved_nanos + excluded.saved_nanos,
      estimated = estimated + excluded.estimated`)
  const writeAll = db.transaction((rows: readonly LedgerRow[]) => { for (const r of rows) upsert.run(r) })
  const spentBetween = db.prepare('SELECT COALESCE(SUM(cost_nanos), 0) AS n FROM spend_ledger WHERE key_id = ? AND day >= ? AND day <= ?').pluck()
  const spentAll = db.prepare('SELECT COALESCE(SUM(cost_nanos), 0) AS n FROM spend_ledger WHERE key_id = ?').pluck()
  const rowsBetween = db.prepare(`SELECT ${COLUMNS} FROM spend_ledger WHERE day >= ? AND day <= ?`)

  return {
    async write (rows) { writeAll(rows) },
    async spent (keyId, period, nowMs) {
      const { from, to } = periodDays(period, nowMs)
      return from === undefined || to === undefined ? spentAll.get(keyId) as number : spentBetween.get(keyId, from, to) as number
    },
    async rows (from, to) { return rowsBetween.all(from, to) as LedgerRow[] }
  }
}
