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

interface Batch { readonly id: string, readonly rows: LedgerRow[] }

/**
 * The write side, off the response path: `record` sums into an in-memory map; a timer
 * writes the map as one batch every `flushMs`. A batch that fails stays as it is (same
 * id, so the store can tell a retry) and is retried with backoff before newer rows;
 * meanwhile new records keep summing into the map, so an outage costs memory per
 * distinct key × model × day, not per request.
 *
 *   record() ─▶ pending (Map rowId → row) ──timer──▶ inflight batch ──write──▶ store
 *                                                       └─ fails: kept, retried ─┘
 */
export function bufferedLedger (store: LedgerStore, opts: LedgerOptions): SpendLedger {
  const flushMs = opts.flushMs ?? 250
  const maxRows = opts.maxBufferedRows ?? 100_000
  let pending = new Map<string, LedgerRow>()
  let pendingRecords = 0
  let inflight: (Batch & { records: number }) | undefined
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let failures = 0
  let lastWarn = 0
  let closed = false

  const gauge = (): void => { opts.metrics.ledgerBuffered.set(pendingRecords + (inflight?.records ?? 0)) }

  const schedule = (delay: number): void => {
    if (timer !== undefined || closed) return
    timer = setTimeout(() => {
      timer = undefined
      flush().catch(() => {})
    }, delay)
    timer.unref()
  }

  const writeOnce = async (): Promise<void> => {
    if (inflight === undefined && pending.size > 0) {
      inflight = { id: randomBytes(9).toString('base64url'), rows: [...pending.values()], records: pendingRecords }
      pending = new Map()
      pendingRecords = 0
    }
    if (inflight === undefined) return
    await store.write(inflight.rows, inflight.id)
    inflight = undefined
    failures = 0
    gauge()
  }

  const flush = async (): Promise<void> => {
    // One write at a time; a failure of the one we waited for is not ours to report.
    for (let r = running; r !== undefined; r = running) await r.catch(() => {})
    running = (async () => {
      try {
        // The failed batch first, then what arrived meanwhile.
        await writeOnce()
        if (pending.size > 0) await writeOnce()
      } catch (err) {
        failures++
        opts.metrics.ledgerErrors.inc()
        const now = Date.now()
        if (now - lastWarn > 10_000) {
          lastWarn = now
          opts.log.warn({ err: (err as Error).message, buffered: pendingRecords + (inflight?.records ?? 0) }, 'spend ledger unreachable: buffering')
        }
        schedule(Math.min(flushMs * 2 ** failures, 5_000))
        throw err
      } finally {
        running = undefined
        gauge()
      }
    })()
    await running
  }

  /** Buffered rows (pending and in flight) passing `keep`, as copies. */
  const local = (keep: (row: LedgerRow) => boolean): LedgerRow[] => {
    const out: LedgerRow[] = []
    for (const row of pending.values()) if (keep(row)) out.push({ ...row })
    for (const row of inflight?.rows ?? []) if (keep(row)) out.push({ ...row })
    return out
  }

  return {
    record (r) {
      const day = utcDay(r.atMs)
      const id = rowId(r.keyId, r.model, day)
      let row = pending.get(id)
      if (row === undefined) {
        if (pending.size >= maxRows) {
          opts.log.error({ keyId: r.keyId, model: r.model, costNanos: r.costNanos }, 'spend ledger buffer full: record dropped')
          return
        }
        row = emptyRow(r.keyId, r.keyName, r.model, day)
        pending.set(id, row)
      }
      addRecord(row, r)
      pendingRecords++
      // The gauge is about outages: kept current per record only while one lasts.
      if (failures > 0) gauge()
      schedule(flushMs)
    },

    async spentNanos (keyId, period, nowMs) {
      const stored = await store.spent(keyId, period, nowMs)
      // Read after the store answered: a batch whose write completed meanwhile is no longer local.
      const { from, to } = periodDays(period, nowMs)
      let sum = stored
      for (const row of local((r) => r.keyId === keyId && (from === undefined || r.day >= from) && (to === undefined || r.day <= to))) sum += row.costNanos
      return sum
    },

    async rows (from, to) {
      const stored = await store.rows(from, to)
      const byId = new Map(stored.map((r) => [rowId(r.keyId, r.model, r.day), r]))
      for (const row of local((r) => r.day >= from && r.day <= to)) {
        const id = rowId(row.keyId, row.model, row.day)
        const have = byId.get(id)
        if (have === undefined) byId.set(id, row)
        else addRow(have, row)
      }
      return [...byId.values()]
    },

    flush,

    async close () {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      const end = Date.now() + (opts.closeTimeoutMs ?? 5_000)
      for (;;) {
        try {
          await flush()
          return
        } catch (err) {
          if (Date.now() > end) {
            opts.log.error({ err: (err as Error).message, lostRecords: pendingRecords + (inflight?.records ?? 0) }, 'spend ledger unreachable at shutdown: buffered spend lost')
            return
          }
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
      }
    }
  }
}
