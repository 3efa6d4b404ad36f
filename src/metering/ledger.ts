import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { BudgetPeriod } from '../config/schema.js'
import type { Metrics } from '../metrics/metrics.js'
import type { SpendReader } from './spend.js'
import { addRecord, addRow, emptyRow, periodDays, rowId, utcDay, type LedgerRow, type UsageRecord } from './record.js'

/**
 * Where ledger rows live (SQLite or Redis). Contract:
 * - `write` adds every row's counters to the stored ones, atomically per key at least,
 *   and applies a batch id at most once: retrying a batch that did reach the store
 *   (the answer was lost) must not count it twice. It rejects when the store is down.
 * - `spent` is the stored cost of one key between two UTC days (inclusive; undefined =
 *   unbounded); `rows` every stored row whose day is in [from, to].
 */
export interface LedgerStore {
  write (rows: readonly LedgerRow[], batchId: string): Promise<void>
  spent (keyId: string, period: BudgetPeriod, nowMs: number): Promise<number>
  rows (from: string, to: string): Promise<LedgerRow[]>
}

/** The spend ledger as the rest of metering sees it. */
export interface SpendLedger extends SpendReader {
  /** Takes a record; never blocks, never throws (it is written within `flushMs`). */
  record (r: UsageRecord): void
  /** Stored rows plus the ones still buffered here, days in [from, to]. */
  rows (from: string, to: string): Promise<LedgerRow[]>
  /** Writes what is buffered now (rejects when the store is down; the rows stay buffered). */
  flush (): Promise<void>
  /** Stops the timer and flushes, retrying for up to `closeTimeoutMs`. */
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
}

interface Batch { readonly id: string, readonly rows: LedgerRow[], readonly records: number }

/**
 * The write side, off the response path: `record` sums into an in-memory map; a timer
 * writes the map as one batch every `flushMs`. A batch that fails stays as it is (same
 * id, so the store can tell a retry) and is retried with backoff before newer rows;
 * meanwhile new records keep summing into the map, so an outage costs memory per
 * distinct key × model × day, not per request.
 *
 *   record() ─▶ pending (Map rowId → row) ──timer──▶ inflight batch ──write──▶ store
 *                                                       └─ fails: kept, retried ─┘
 * @example const ledger = bufferedLedger(sqliteLedgerStore(db), { log, metrics })
 */
export function bufferedLedger (store: LedgerStore, opts: LedgerOptions): SpendLedger {
  return new BufferedLedger(store, opts)
}

class BufferedLedger implements SpendLedger {
  private pending = new Map<string, LedgerRow>()
  private pendingRecords = 0
  private inflight: Batch | undefined
  private readonly readers = new Set<Promise<void>>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private failures = 0
  private lastWarn = 0
  private closed = false
  private readonly flushMs: number
  private readonly maxRows: number

  constructor (private readonly store: LedgerStore, private readonly opts: LedgerOptions) {
    this.flushMs = opts.flushMs ?? 250
    this.maxRows = opts.maxBufferedRows ?? 100_000
  }

  record (r: UsageRecord): void {
    const day = utcDay(r.atMs)
    const id = rowId(r.keyId, r.model, day)
    let row = this.pending.get(id)
    if (row === undefined) {
      if (this.pending.size >= this.maxRows) {
        this.opts.log.error({ keyId: r.keyId, model: r.model, costNanos: r.costNanos }, 'spend ledger buffer full: record dropped')
        return
      }
      row = emptyRow(r.keyId, r.keyName, r.model, day)
      this.pending.set(id, row)
    }
    addRecord(row, r)
    this.pendingRecords++
    // The gauge is about outages: kept current per record only while one lasts.
    if (this.failures > 0) this.gauge()
    this.schedule(this.flushMs)
  }

  /**
   * Stored spend plus what this instance still buffers, with no batch counted twice or
   * missed. A batch being written is the one moment where the two views overlap (applied
   * in the store, still held here) or miss each other, so reads first wait for a write in
   * flight; the local part is then taken at once, before the store is asked, and a write
   * that starts after that is sent behind our read on the same connection, so the store
   * answers without it while the snapshot has it.
   */
  async spentNanos (keyId: string, period: BudgetPeriod, nowMs: number): Promise<number> {
    // Checked in the same step as the snapshot below: no write can begin in between.
    while (this.running !== undefined) await this.running.catch(() => {})
    const { from, to } = periodDays(period, nowMs)
    let sum = 0
    for (const row of this.local((r) => r.keyId === keyId && (from === undefined || r.day >= from) && (to === undefined || r.day <= to))) sum += row.costNanos
    return sum + await this.store.spent(keyId, period, nowMs)
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
    const byId = new Map(stored.map((r) => [rowId(r.keyId, r.model, r.day), r]))
    for (const row of local) {
      const id = rowId(row.keyId, row.model, row.day)
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
    for (;;) {
      try {
        await this.flush()
        return
      } catch (err) {
        if (Date.now() > end) {
          this.opts.log.error({ err: (err as Error).message, lostRecords: this.buffered() }, 'spend ledger unreachable at shutdown: buffered spend lost')
          return
        }
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    }
  }

  /** The failed batch first, then what arrived meanwhile; on failure, count, warn and retry later. */
  private async writeAll (): Promise<void> {
    try {
      await this.writeOnce()
      if (this.pending.size > 0) await this.writeOnce()
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

  private async writeOnce (): Promise<void> {
    if (this.inflight === undefined && this.pending.size > 0) {
      this.inflight = { id: randomBytes(9).toString('base64url'), rows: [...this.pending.values()], records: this.pendingRecords }
      this.pending = new Map()
      this.pendingRecords = 0
    }
    if (this.inflight === undefined) return
    await this.store.write(this.inflight.rows, this.inflight.id)
    this.inflight = undefined
    this.failures = 0
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
    return this.pendingRecords + (this.inflight?.records ?? 0)
  }

  private gauge (): void {
    this.opts.metrics.ledgerBuffered.set(this.buffered())
  }

  /** Buffered rows (pending and in flight) passing `keep`, as copies. */
  private local (keep: (row: LedgerRow) => boolean): LedgerRow[] {
    const out: LedgerRow[] = []
    for (const row of this.pending.values()) if (keep(row)) out.push({ ...row })
    for (const row of this.inflight?.rows ?? []) if (keep(row)) out.push({ ...row })
    return out
  }
}
