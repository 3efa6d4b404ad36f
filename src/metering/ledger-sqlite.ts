import { migrate, type SqliteDb } from '../store/sqlite.js'
import type { LedgerStore } from './ledger.js'
import { periodDays, type LedgerRow } from './record.js'
import type { BudgetPeriod } from '../config/schema.js'

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
   CREATE INDEX spend_ledger_day ON spend_ledger (day);`,
  // Team budgets: the team a key was in is part of a row (a key may move); '' = none.
  // Batch ids applied, so journal replays after a crash apply each once.
  `CREATE TABLE spend_ledger_v2 (
     key_id TEXT NOT NULL,
     key_name TEXT NOT NULL,
     team_id TEXT NOT NULL DEFAULT '',
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
     PRIMARY KEY (key_id, team_id, model, day)
   );
   INSERT INTO spend_ledger_v2 (key_id, key_name, model, day, requests, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_nanos, cache_hits, saved_nanos, estimated)
     SELECT key_id, key_name, model, day, requests, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_nanos, cache_hits, saved_nanos, estimated FROM spend_ledger;
   DROP TABLE spend_ledger;
   ALTER TABLE spend_ledger_v2 RENAME TO spend_ledger;
   CREATE INDEX spend_ledger_key_day ON spend_ledger (key_id, day);
   CREATE INDEX spend_ledger_day ON spend_ledger (day);
   CREATE INDEX spend_ledger_team_day ON spend_ledger (team_id, day);
   CREATE TABLE ledger_batches (batch_id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
   CREATE INDEX ledger_batches_at ON ledger_batches (applied_at);`
]

const COLUMNS = 'key_id AS keyId, key_name AS keyName, NULLIF(team_id, \'\') AS teamId, model, day, requests, input_tokens AS inputTokens, cached_input_tokens AS cachedInputTokens, output_tokens AS outputTokens, reasoning_tokens AS reasoningTokens, cost_nanos AS costNanos, cache_hits AS cacheHits, saved_nanos AS savedNanos, estimated'

/** Applied batch ids are kept this long: longer than any journal segment waits for its replay in practice. */
const BATCH_KEEP_MS = 86_400_000

/**
 * The embedded ledger: one row per key × team × model × UTC day in `DATA_DIR/gateway.db`,
 * upserted in one transaction per batch together with the batch's id, so a batch is
 * applied once or not at all, and a replayed one (same id) is skipped. Durable across
 * restarts. Reads are synchronous underneath, which budgets use (`spentSync`).
 * @example const ledger = bufferedLedger(sqliteLedgerStore(db), { log, metrics })
 */
export function sqliteLedgerStore (db: SqliteDb, clock: () => number = Date.now): LedgerStore {
  migrate(db, 'ledger', MIGRATIONS)
  const upsert = db.prepare(`INSERT INTO spend_ledger (key_id, key_name, team_id, model, day, requests, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_nanos, cache_hits, saved_nanos, estimated)
    VALUES (@keyId, @keyName, @teamId, @model, @day, @requests, @inputTokens, @cachedInputTokens, @outputTokens, @reasoningTokens, @costNanos, @cacheHits, @savedNanos, @estimated)
    ON CONFLICT (key_id, team_id, model, day) DO UPDATE SET
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
  const claim = db.prepare('INSERT OR IGNORE INTO ledger_batches (batch_id, applied_at) VALUES (?, ?)')
  const trim = db.prepare('DELETE FROM ledger_batches WHERE applied_at < ?')
  const writeAll = db.transaction((rows: readonly LedgerRow[], batchId: string) => {
    const now = clock()
    if (claim.run(batchId, now).changes === 0) return
    trim.run(now - BATCH_KEEP_MS)
    for (const r of rows) upsert.run({ ...r, teamId: r.teamId ?? '' })
  })
  const keyBetween = db.prepare('SELECT COALESCE(SUM(cost_nanos), 0) AS n FROM spend_ledger WHERE key_id = ? AND day >= ? AND day <= ?').pluck()
  const keyAll = db.prepare('SELECT COALESCE(SUM(cost_nanos), 0) AS n FROM spend_ledger WHERE key_id = ?').pluck()
  const teamBetween = db.prepare('SELECT COALESCE(SUM(cost_nanos), 0) AS n FROM spend_ledger WHERE team_id = ? AND day >= ? AND day <= ?').pluck()
  const teamAll = db.prepare('SELECT COALESCE(SUM(cost_nanos), 0) AS n FROM spend_ledger WHERE team_id = ?').pluck()
  const rowsBetween = db.prepare(`SELECT ${COLUMNS} FROM spend_ledger WHERE day >= ? AND day <= ?`)

  const spentSync = (scope: 'key' | 'team', id: string, period: BudgetPeriod, nowMs: number): number => {
    const { from, to } = periodDays(period, nowMs)
    const all = from === undefined || to === undefined
    if (scope === 'team') return (all ? teamAll.get(id) : teamBetween.get(id, from, to)) as number
    return (all ? keyAll.get(id) : keyBetween.get(id, from, to)) as number
  }

  return {
    async write (rows, batchId) { writeAll(rows, batchId) },
    writeSync (rows, batchId) { writeAll(rows, batchId) },
    async spent (keyId, period, nowMs) { return spentSync('key', keyId, period, nowMs) },
    async teamSpent (teamId, period, nowMs) { return spentSync('team', teamId, period, nowMs) },
    spentSync,
    async rows (from, to) { return rowsBetween.all(from, to) as LedgerRow[] }
  }
}
