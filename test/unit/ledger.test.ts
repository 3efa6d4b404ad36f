import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/log.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { bufferedLedger, type LedgerStore } from '../../src/metering/ledger.js'
import { sqliteLedgerStore } from '../../src/metering/ledger-sqlite.js'
import { createPriceTable, priceUsage } from '../../src/metering/pricing.js'
import type { UsageRecord } from '../../src/metering/record.js'
import { openSqlite, type SqliteDb } from '../../src/store/sqlite.js'
import { removeDir } from '../helpers/redis.js'
import { tempDataDir } from '../helpers/gateway.js'

const log = createLogger('silent')
const DAY = 86_400_000
const NOW = Date.parse('2026-11-29T12:00:00Z')

function record (i: number, over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    keyId: `key_${i % 3}`,
    keyName: `name_${i % 3}`,
    model: i % 2 === 0 ? 'gpt-5.2-chat-latest' : 'gpt-5-mini',
    label: 'x',
    route: '/v1/chat/completions',
    inputTokens: 100 + i,
    cachedInputTokens: i % 50,
    outputTokens: 7 * i % 997,
    reasoningTokens: 0,
    costNanos: 0,
    cacheHit: false,
    savedNanos: 0,
    estimated: false,
    priced: true,
    latencyMs: 1,
    atMs: NOW,
    ...over
  }
}

describe('spend ledger (SQLite)', () => {
  const dirs: string[] = []
  const dbs: SqliteDb[] = []
  const open = (dir = tempDataDir()): SqliteDb => {
    dirs.push(dir)
    const db = openSqlite(dir)
    dbs.push(db)
    return db
  }
  afterEach(() => {
    for (const db of dbs.splice(0)) if (db.open) db.close()
    for (const d of dirs.splice(0)) removeDir(d)
  })

  it('sums 10,000 records to the exact expected total', async () => {
    const prices = createPriceTable({ 'gpt-5-mini': { input: 0.25, cached_input: 0.025, output: 2.0 } })
    const ledger = bufferedLedger(sqliteLedgerStore(open()), { log, metrics: createMetrics(undefined, { defaultMetrics: false }), flushMs: 5 })
    let expected = 0n
    const byKey = new Map<string, bigint>()
    for (let i = 0; i < 10_000; i++) {
      const r = record(i)
      const price = prices.resolve(r.model).price!
      const cost = priceUsage({ input: r.inputTokens, cached: r.cachedInputTokens, output: r.outputTokens, reasoning: 0 }, price)
      // Independent check of the formula with bigint arithmetic, rounded half up per request.
      const femto = BigInt(r.inputTokens - r.cachedInputTokens) * price.input + BigInt(r.cachedInputTokens) * price.cachedInput + BigInt(r.outputTokens) * price.output
      expect(BigInt(cost)).toBe((femto + 500_000n) / 1_000_000n)
      expected += BigInt(cost)
      byKey.set(r.keyId, (byKey.get(r.keyId) ?? 0n) + BigInt(cost))
      ledger.record({ ...r, costNanos: cost, atMs: NOW - (i % 40) * DAY })
      if (i % 1000 === 0) await ledger.flush()
    }
    // Half flushed, half still buffered: both count.
    const rows = await ledger.rows('2000-01-01', '2100-01-01')
    expect(rows.reduce((n, r) => n + BigInt(r.costNanos), 0n)).toBe(expected)
    expect(rows.reduce((n, r) => n + r.requests, 0)).toBe(10_000)
    await ledger.flush()
    const flushed = await ledger.rows('2000-01-01', '2100-01-01')
    expect(flushed.reduce((n, r) => n + BigInt(r.costNanos), 0n)).toBe(expected)
    for (const [keyId, sum] of byKey) expect(BigInt(await ledger.spentNanos(keyId, 'total', NOW))).toBe(sum)
    await ledger.close()
  })

  it('reads spend per UTC day, month and all time, buffered spend included', async () => {
    const ledger = bufferedLedger(sqliteLedgerStore(open()), { log, metrics: createMetrics(undefined, { defaultMetrics: false }), flushMs: 60_000 })
    ledger.record(record(0, { keyId: 'k', costNanos: 5, atMs: Date.parse('2026-10-31T23:59:59.999Z') }))
    ledger.record(record(0, { keyId: 'k', costNanos: 7, atMs: Date.parse('2026-11-01T00:00:00Z') }))
    await ledger.flush()
    ledger.record(record(1, { keyId: 'k', costNanos: 11, atMs: NOW }))
    ledger.record(record(1, { keyId: 'other', costNanos: 1000, atMs: NOW }))
    expect(await ledger.spentNanos('k', 'day', NOW)).toBe(11)
    expect(await ledger.spentNanos('k', 'month', NOW)).toBe(18)
    expect(await ledger.spentNanos('k', 'total', NOW)).toBe(23)
    expect(await ledger.spentNanos('k', 'day', Date.parse('2026-11-01T10:00:00Z'))).toBe(7)
    expect(await ledger.spentNanos('nobody', 'total', NOW)).toBe(0)
    await ledger.close()
  })

  it('counts a cache hit as a request and a saving, not as tokens or cost', async () => {
    const ledger = bufferedLedger(sqliteLedgerStore(open()), { log, metrics: createMetrics(undefined, { defaultMetrics: false }) })
    ledger.record(record(0, { keyId: 'k', costNanos: 6_265_000 }))
    ledger.record(record(0, { keyId: 'k', cacheHit: true, savedNanos: 6_265_000 }))
    await ledger.flush()
    const [row] = await ledger.rows('2026-11-29', '2026-11-29')
    expect(row).toMatchObject({ requests: 2, cacheHits: 1, costNanos: 6_265_000, savedNanos: 6_265_000, inputTokens: 100 })
    await ledger.close()
  })

  it('keeps a failed batch and writes it once the store answers again', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false })
    const real = sqliteLedgerStore(open())
    let down = true
    const writes: string[] = []
    // The store interface, with an outage switch in front of the real SQLite store.
    const flaky: LedgerStore = {
      write: async (rows, id) => { writes.push(id); if (down) throw new Error('down'); await real.write(rows, id) },
      spent: (...a) => real.spent(...a),
      rows: (...a) => real.rows(...a)
    }
    const ledger = bufferedLedger(flaky, { log, metrics, flushMs: 60_000 })
    ledger.record(record(0, { keyId: 'k', costNanos: 100 }))
    await expect(ledger.flush()).rejects.toThrow('down')
    ledger.record(record(0, { keyId: 'k', costNanos: 10 }))
    expect(await ledger.spentNanos('k', 'total', NOW)).toBe(110)
    expect((await metrics.registry.getSingleMetric('gateway_ledger_buffered_records')!.get()).values[0]!.value).toBe(2)
    down = false
    await ledger.close()
    // The failed batch was retried under the same id, then the newer rows.
    expect(writes[1]).toBe(writes[0])
    expect(writes).toHaveLength(3)
    expect(await real.spent('k', 'total', NOW)).toBe(110)
    expect((await metrics.registry.getSingleMetric('gateway_ledger_errors_total')!.get()).values[0]!.value).toBe(1)
  })

  it('survives a reopen of the database file', async () => {
    const dir = tempDataDir()
    const first = bufferedLedger(sqliteLedgerStore(open(dir)), { log, metrics: createMetrics(undefined, { defaultMetrics: false }) })
    first.record(record(0, { keyId: 'k', costNanos: 42 }))
    await first.close()
    dbs.pop()!.close()
    const second = bufferedLedger(sqliteLedgerStore(open(dir)), { log, metrics: createMetrics(undefined, { defaultMetrics: false }) })
    expect(await second.spentNanos('k', 'total', NOW)).toBe(42)
    await second.close()
  })
})
