import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { BudgetPeriod } from '../config/schema.js'
import type { Metrics } from '../metrics/metrics.js'
import type { Journal } from './journal.js'
import type { SpendReader } from './spend.js'
import { addRecord, addRow, emptyRow, periodDays, rowId, utcDay, type LedgerRow, type UsageRecord } from './record.js'

/** Reservations (admission ids) a batch releases per subject, where the store keeps them (Redis). */
export interface Release {
  readonly scope: 'key' | 'team'
  readonly id: string
  readonly ids: string[]
}

/**
 * Where ledger rows live (SQLite or Redis). Contract:
 * - `write` adds every row's counters to the stored ones, atomically per key at least,
 *   and applies a batch id at most once: retrying a batch that did reach the store
 *   (the answer was lost), or replaying it from the journal after a crash, must not
 *   count it twice. With the spend it stores, it releases the batch's reservations
 *   (`releases`) in the same atomic step, so a request's money is never in neither.
 *   It rejects when the store is down.
 * - `writeSync` (synchronous stores): the same, done when it returns.
 * - `spent` is the stored cost of one key in a budget period; `teamSpent` of a team;
 *   `spentSync` either, synchronously (synchronous stores); `rows` every stored row
 *   whose day is in [from, to].
 */
export interface LedgerStore {
  write (rows: readonly LedgerRow[], batchId: string, releases?: readonly Release[]): Promise<void>
  writeSync? (rows: readonly LedgerRow[], batchId: string): void
  spent (keyId: string, period: BudgetPeriod, nowMs: number): Promise<number>
  teamSpent? (teamId: string, period: BudgetPeriod, nowMs: number): Promise<number>
  spentSync? (scope: 'key' | 'team', id: string, period: BudgetPeriod, nowMs: number): number
  rows (from: string, to: string): Promise<LedgerRow[]>
}

/** The spend ledger as the rest of metering sees it. */
export interface SpendLedger extends SpendReader {
  /** Takes a record (journaled first when there is a journal); never blocks, never throws. */
  record (r: UsageRecord): void
  /** Spend of a key or team in its budget period: stored plus buffered here. */
  spentOf (scope: 'key' | 'team', id: string, period: BudgetPeriod, nowMs: number): Promise<number>
  /** The same, synchronously; only over a synchronous store (embedded), else undefined. */
  readonly spentNow: ((scope: 'key' | 'team', id: string, period: BudgetPeriod, nowMs: number) => number) | undefined
  /** Releases reservation `reservationId` of a subject with the next batch written (Redis admission). */
  releaseWithNextBatch (scope: 'key' | 'team', subjectId: string, reservationId: string): void
  /** Stored rows plus the ones still buffered here, days in [from, to]. */
  rows (from: string, to: string): Promise<LedgerRow[]>
  /** Writes what is buffered now (rejects when the store is down; the rows stay buffered). */
  flush (): Promise<void>
  /** Stops the timer and flushes, retrying for up to `closeTimeoutMs` (what is left stays in the journal). */
  close (): Promise<void>
}

export interface LedgerOptions {
  readonly log: Logger
  readonly metrics: Metrics
  /** Milliseconds between writes (records are summed per key × model × day meanwhile). */
  readonly flushMs?: number
  /** Distinct rows kept while the store is down; beyond, new rows are dropped (and logged). */
  readonly maxBufferedRows?: number
  readonly closeTimeoutMs?: number
  /** Each record is appended here before it counts; its segments are replayed at start. */
  readonly journal?: Journal
  /** Longest a spend read waits for a write in flight before reading without it, ms. */
  readonly readWaitMs?: number
}

interface Batch {
  readonly id: string
  readonly rows: LedgerRow[]
  readonly records: number
  readonly releases: Release[]
}

/**
 * The write side, off the response path: `record` appends to the journal and sums into
 * an in-memory map; a timer cuts the map into a batch every `flushMs` (the journal's
 * segment is cut with it and names the batch) and writes it. A batch that fails stays
 * queued as it is (same id, so the store can tell a retry) and is retried with backoff
 * before newer ones; meanwhile new records keep summing into the map, so an outage
 * costs memory per distinct key × model × day, not per request. Segments a previous
 * process left are queued first at start-up: the replay.
 *
 *   record() ─▶ journal segment ┐
 *           └─▶ pending (Map rowId → row) ──timer: cut──▶ queue [batch…] ──write──▶ store
 *                                                 └─ fails: kept, retried ─┘  └▶ segment unlinked
 * @example const ledger = bufferedLedger(sqliteLedgerStore(db), { log, metrics, journal })
 */
export function bufferedLedger (store: LedgerStore, opts: LedgerOptions): SpendLedger {
  return new BufferedLedger(store, opts)
}

class BufferedLedger implements SpendLedger {
  private pending = new Map<string, LedgerRow>()
  private pendingRecords = 0
  private pendingReleases = new Map<string, Release>()
  /** Batches cut and not stored yet, oldest first (the head is the one being written). */
  private readonly queue: Batch[] = []
  private readonly readers = new Set<Promise<void>>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private failures = 0
  private lastWarn = 0
  private closed = false
  private readonly flushMs: number
  private readonly maxRows: number
  readonly spentNow: SpendLedger['spentNow']
  /** Stored sums read by `spentNow` (synchronous stores), dropped at each write. */
  private readonly storedSums = new Map<string, number>()

  constructor (private readonly store: LedgerStore, private readonly opts: LedgerOptions) {
    this.flushMs = opts.flushMs ?? 250
    this.maxRows = opts.maxBufferedRows ?? 100_000
    const sync = store.spentSync
    this.spentNow = sync === undefined
      ? undefined
      : (scope, id, period, nowMs) => {
          // Only this process writes the embedded store, so a stored sum holds until its next write.
          const k = scope + '\0' + id + '\0' + period + '\0' + utcDay(nowMs)
          let stored = this.storedSums.get(k)
          if (stored === undefined) {
            if (this.storedSums.size >= 10_000) this.storedSums.clear()
            this.storedSums.set(k, stored = sync(scope, id, period, nowMs))
          }
          return this.localSpend(scope, id, period, nowMs) + stored
        }
    let replayed = 0
    for (const seg of opts.journal?.recovered() ?? []) {
      const rows = new Map<string, LedgerRow>()
      for (const r of seg.records) addRecord(rowOf(rows, r), r)
      this.queue.push({ id: seg.id, rows: [...rows.values()], records: seg.records.length, releases: [] })
      replayed += seg.records.length
    }
    if (this.queue.length > 0) {
      opts.log.info({ segments: this.queue.length, records: replayed }, 'spend journal: replaying records not yet stored')
      this.schedule(0)
    }
  }

  record (r: UsageRecord): void {
    this.opts.journal?.append(r)
    const day = utcDay(r.atMs)
    const id = rowId(r.keyId, r.model, day, r.teamId)
    let row = this.pending.get(id)
    if (row === undefined) {
      if (this.pending.size >= this.maxRows) {
        this.opts.log.error({ keyId: r.keyId, model: r.model, costNanos: r.costNanos }, 'spend ledger buffer full: record kept in the journal only')
        return
      }
      row = emptyRow(r.keyId, r.keyName, r.model, day, r.teamId ?? null)
      this.pending.set(id, row)
    }
    addRecord(row, r)
    this.pendingRecords++
    // The gauge is about outages: kept current per record only while one lasts.
    if (this.failures > 0) this.gauge()
    this.schedule(this.flushMs)
  }

  releaseWithNextBatch (scope: 'key' | 'team', subjectId: string, reservationId: string): void {
    const k = scope + ':' + subjectId
    let r = this.pendingReleases.get(k)
    if (r === undefined) this.pendingReleases.set(k, r = { scope, id: subjectId, ids: [] })
    r.ids.push(reservationId)
    this.schedule(this.flushMs)
  }

  async spentNanos (keyId: string, period: BudgetPeriod, nowMs: number): Promise<number> {
    return await this.spentOf('key', keyId, period, nowMs)
  }

  /**
   * Stored spend plus what this instance still buffers. A batch being written is the one
   * moment where the two views overlap (applied in the store, still held here), so a
   * read first waits for a write in flight, but never longer than `readWaitMs`: past
   * that it may count that batch twice, never miss it. (Budgets on the request path do
   * not read here: they read the store inside their admission step.)
   */
  async spentOf (scope: 'key' | 'team', id: string, period: BudgetPeriod, nowMs: number): Promise<number> {
    if (this.spentNow !== undefined) return this.spentNow(scope, id, period, nowMs)
    const end = Date.now() + (this.opts.readWaitMs ?? 500)
    while (this.running !== undefined && Date.now() < end) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.running.catch(() => {}), new Promise((resolve) => { timer = setTimeout(resolve, end - Date.now()) })])
      clearTimeout(timer)
    }
    const local = this.localSpend(scope, id, period, nowMs)
    if (scope === 'key') return local + await this.store.spent(id, period, nowMs)
    return local + (await this.store.teamSpent?.(id, period, nowMs) ?? 0)
  }

  /** All rows of a day range: the store's plus the buffered ones (reads several keys: no write may interleave). */
  async rows (from: string, to: string): Promise<LedgerRow[]> {
    while (this.running !== undefined) await this.running.catch(() => {})
    const reading = this.readRows(from, to)
    // Writes due meanwhile wait for this read (see flush).
    const done = reading.then(() => {}, () => {})
    this.readers.add(done)
    try {
      return await reading
    } finally {
      this.readers.delete(done)
    }
  }

  private async readRows (from: string, to: string): Promise<LedgerRow[]> {
    const local = this.local((r) => r.day >= from && r.day <= to)
    const stored = await this.store.rows(from, to)
    const byId = new Map(stored.map((r) => [rowId(r.keyId, r.model, r.day, r.teamId), r]))
    for (const row of local) {
      const id = rowId(row.keyId, row.model, row.day, row.teamId)
      const have = byId.get(id)
      if (have === undefined) byId.set(id, row)
      else addRow(have, row)
    }
    return [...byId.values()]
  }

  async flush (): Promise<void> {
    // One write at a time (a failure of the one we waited for is not ours to report), and
    // none while a usage read spanning several keys runs: it must not see half a batch.
    // Checked again after every wait: another caller may have begun meanwhile.
    for (;;) {
      if (this.running !== undefined) await this.running.catch(() => {})
      else if (this.readers.size > 0) await Promise.all(this.readers)
      else break
    }
    this.running = this.writeAll()
    try {
      await this.running
    } finally {
      this.running = undefined
      this.gauge()
    }
  }

  async close (): Promise<void> {
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    const end = Date.now() + (this.opts.closeTimeoutMs ?? 5_000)
    try {
      for (;;) {
        try {
          await this.flush()
          return
        } catch (err) {
          if (Date.now() > end) {
            this.opts.log.error({ err: (err as Error).message, records: this.buffered(), journaled: this.opts.journal !== undefined }, 'spend ledger unreachable at shutdown: ' + (this.opts.journal !== undefined ? 'buffered spend stays in the journal for the next start' : 'buffered spend lost'))
            return
          }
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
      }
    } finally {
      this.opts.journal?.close()
    }
  }

  /** The queue, then what arrived meanwhile; on failure, count, warn and retry later. */
  private async writeAll (): Promise<void> {
    try {
      // Bounded: the batches queued now and one cut of what is pending now.
      for (let n = this.queue.length + 1; n > 0; n--) if (!await this.writeOnce()) break
    } catch (err) {
      this.failures++
      this.opts.metrics.ledgerErrors.inc()
      const now = Date.now()
      if (now - this.lastWarn > 10_000) {
        this.lastWarn = now
        this.opts.log.warn({ err: (err as Error).message, buffered: this.buffered() }, 'spend ledger unreachable: buffering')
      }
      this.schedule(Math.min(this.flushMs * 2 ** this.failures, 5_000))
      throw err
    }
  }

  /** Writes the oldest batch (cutting one from pending when none is queued); false when there was nothing. */
  private async writeOnce (): Promise<boolean> {
    if (this.queue.length === 0) {
      if (this.pending.size === 0 && this.pendingReleases.size === 0) return false
      this.queue.push({
        id: this.opts.journal?.cut() ?? randomBytes(9).toString('base64url'),
        rows: [...this.pending.values()],
        records: this.pendingRecords,
        releases: [...this.pendingReleases.values()]
      })
      this.pending = new Map()
      this.pendingRecords = 0
      this.pendingReleases = new Map()
    }
    const batch = this.queue[0]!
    // A synchronous store is written and the batch dropped here in the same turn, so no
    // synchronous spend read can see it both stored and buffered.
    if (this.store.writeSync !== undefined) {
      this.store.writeSync(batch.rows, batch.id)
      this.storedSums.clear()
    } else {
      await this.store.write(batch.rows, batch.id, batch.releases)
    }
    this.queue.shift()
    this.opts.journal?.stored(batch.id)
    this.failures = 0
    return true
  }

  private schedule (delay: number): void {
    if (this.timer !== undefined || this.closed) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush().catch(() => {})
    }, delay)
    this.timer.unref()
  }

  private buffered (): number {
    let n = this.pendingRecords
    for (const b of this.queue) n += b.records
    return n
  }

  private gauge (): void {
    this.opts.metrics.ledgerBuffered.set(this.buffered())
  }

  /** Buffered cost of a key or team in a budget period. */
  private localSpend (scope: 'key' | 'team', id: string, period: BudgetPeriod, nowMs: number): number {
    const { from, to } = periodDays(period, nowMs)
    let sum = 0
    for (const row of this.pending.values()) sum += spendIn(row, scope, id, from, to)
    for (const b of this.queue) for (const row of b.rows) sum += spendIn(row, scope, id, from, to)
    return sum
  }

  /** Buffered rows (pending and queued) passing `keep`, as copies. */
  private local (keep: (row: LedgerRow) => boolean): LedgerRow[] {
    const out: LedgerRow[] = []
    for (const row of this.pending.values()) if (keep(row)) out.push({ ...row })
    for (const b of this.queue) for (const row of b.rows) if (keep(row)) out.push({ ...row })
    return out
  }
}

/** A row's cost when it is the subject's and its day is in [from, to] (bounds undefined = open), else 0. */
function spendIn (r: LedgerRow, scope: 'key' | 'team', id: string, from: string | undefined, to: string | undefined): number {
  if ((scope === 'key' ? r.keyId : r.teamId) !== id) return 0
  return (from === undefined || r.day >= from) && (to === undefined || r.day <= to) ? r.costNanos : 0
}

/** The row of `r` in a map of rows being built. */
function rowOf (rows: Map<string, LedgerRow>, r: UsageRecord): LedgerRow {
  const day = utcDay(r.atMs)
  const id = rowId(r.keyId, r.model, day, r.teamId)
  let row = rows.get(id)
  if (row === undefined) rows.set(id, row = emptyRow(r.keyId, r.keyName, r.model, day, r.teamId ?? null))
  return row
}
