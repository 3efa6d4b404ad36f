import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { openJournal, toLine } from '../../src/metering/journal.js'
import { bufferedLedger } from '../../src/metering/ledger.js'
import { sqliteLedgerStore } from '../../src/metering/ledger-sqlite.js'
import { createPriceTable } from '../../src/metering/pricing.js'
import type { UsageRecord } from '../../src/metering/record.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import type { Subject } from '../../src/ratelimit/admission.js'
import { createMemoryAdmission } from '../../src/ratelimit/admission-memory.js'
import { claimOf, inputEstimate, outputReservation, requestedMaxOutput } from '../../src/ratelimit/reservation.js'
import { openSqlite } from '../../src/store/sqlite.js'
import { group } from './harness.js'

/** Time per awaited operation, median of 5 runs of `ops` (the harness times synchronous work only). */
async function perOpAsync (name: string, fn: () => Promise<unknown>, ops = 20_000): Promise<string> {
  for (let i = 0; i < ops / 4; i++) await fn()
  const runs: number[] = []
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < ops; i++) await fn()
    runs.push(Number(process.hrtime.bigint() - t0) / ops)
  }
  runs.sort((a, b) => a - b)
  return `| ${name} | ${(runs[2]! / 1000).toFixed(2)} µs |`
}

/**
 * What budgets add to a request: the claim (input estimate + output reservation +
 * worst-case price), the embedded admission with a budget (a SQLite spend read, the
 * check, the reservation) and its settlement; and what the journal adds to each usage
 * record (one JSON line, one write(2)) next to the ledger's in-memory sum alone.
 */
export async function moneyBench (timeMs?: number): Promise<string> {
  const prices = createPriceTable({})
  const json = { model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'Say hello in five words.' }], max_tokens: 500 }
  const bodyBytes = Buffer.byteLength(JSON.stringify(json))
  const record: UsageRecord = { keyId: 'key_bench', keyName: 'bench', teamId: null, model: 'gpt-5.2-chat-latest', label: 'gpt-5.2-chat-latest', route: '/v1/chat/completions', inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, reasoningTokens: 200, costNanos: 6_265_000, cacheHit: false, savedNanos: 0, estimated: false, priced: true, latencyMs: 12, atMs: Date.now() }
  const log = pino({ level: 'silent' })
  const plain = bufferedLedger(sqliteLedgerStore(openSqlite(mkdtempSync(join(tmpdir(), 'comet-micro-ledger-')))), { log, metrics: createMetrics(undefined, { defaultMetrics: false }), flushMs: 60_000 })
  const dir = mkdtempSync(join(tmpdir(), 'comet-micro-journal-'))
  const journaled = bufferedLedger(sqliteLedgerStore(openSqlite(dir)), { log, metrics: createMetrics(undefined, { defaultMetrics: false }), flushMs: 60_000, journal: openJournal(join(dir, 'journal')) })
  // Flushing now and then keeps the buffers (and the segment) at a realistic size.
  let n = 0
  const flushEvery = (l: typeof plain): void => { if (++n % 1000 === 0) l.flush().catch(() => {}) }

  const admission = createMemoryAdmission(plain.spentNow!)
  const key: Subject = { scope: 'key', id: 'key_bench', name: 'bench', rpm: null, tpm: 1_000_000_000, maxConcurrency: null, budget: { nanos: 1e15, period: 'month' } }
  // Millions of calls a second: a tpm that the timed loop cannot use up.
  const roomy: Subject = { ...key, id: 'key_bench_sync', tpm: 1e13 }
  const claim = claimOf(inputEstimate(bodyBytes, true), outputReservation(requestedMaxOutput(json), undefined, 4096), prices.resolve(json.model))
  const out = [
    group('Reservation claim (pure)', [
      { name: 'claimOf(inputEstimate, outputReservation, price)', fn: () => claimOf(inputEstimate(bodyBytes, true), outputReservation(requestedMaxOutput(json), undefined, 4096), prices.resolve(json.model)) }
    ], timeMs),
    ['#### Embedded admission with budget + tpm (awaited)', '', '| case | per op |', '|---|---|',
      await perOpAsync('admit + settle, key without limits checked (baseline: two resolved promises)', async () => { await Promise.resolve(); await Promise.resolve() }),
      await perOpAsync('admit + settle (spend read, check, reservation, release)', async () => {
        const d = await admission.admit([key], claim)
        if (d.allowed) await admission.settle(d.ticket, { tokens: 1500, nanos: 6_265_000 })
      })
    ].join('\n'),
    // What the limits interceptor calls now for the embedded backend: no promise, no microtask.
    group('Embedded admission with budget + tpm, decided in the same turn', [
      {
        name: 'admitNow + settleNow (spend read, check, reservation, release)',
        fn: () => {
          const d = admission.admitNow!([roomy], claim)
          return d.allowed ? admission.settleNow!(d.ticket, { tokens: 1500, nanos: 6_265_000 }) : d
        }
      }
    ], timeMs),
    group('Journal line of a usage record', [
      { name: 'before: JSON.stringify of the field array', fn: () => JSON.stringify([record.keyId, record.keyName, record.teamId ?? null, record.model, record.inputTokens, record.cachedInputTokens, record.outputTokens, record.reasoningTokens, record.costNanos, record.cacheHit ? 1 : 0, record.savedNanos, record.estimated ? 1 : 0, record.atMs]) + '\n' },
      { name: 'toLine: string fields encoded once per key × model', fn: () => toLine(record) }
    ], timeMs),
    group('Usage record into the ledger', [
      { name: 'ledger.record, no journal', fn: () => { plain.record(record); flushEvery(plain) } },
      { name: 'ledger.record + journal append (JSON line + write(2))', fn: () => { journaled.record(record); flushEvery(journaled) } }
    ], timeMs)
  ]
  await plain.close()
  await journaled.close()
  return out.join('\n\n')
}
