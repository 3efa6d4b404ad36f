import { appendFileSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configFrom } from '../../src/config/load.js'
import { createLogger } from '../../src/log.js'
import { openJournal, fromLine } from '../../src/metering/journal.js'
import { bufferedLedger, type LedgerStore } from '../../src/metering/ledger.js'
import { redisLedgerStore } from '../../src/metering/ledger-redis.js'
import { sqliteLedgerStore } from '../../src/metering/ledger-sqlite.js'
import { addRecord, emptyRow, utcDay, type UsageRecord } from '../../src/metering/record.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { createRedis, redisReady, type RedisClient } from '../../src/store/redis.js'
import { openSqlite } from '../../src/store/sqlite.js'
import { tempDataDir } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'

const log = createLogger('silent')
const metrics = (): ReturnType<typeof createMetrics> => createMetrics(undefined, { defaultMetrics: false })
const NOW = Date.now()

function rec (keyId: string, costNanos: number, teamId: string | null = null): UsageRecord {
  return { keyId, keyName: 'name-' + keyId, teamId, model: 'gpt-5.2-chat-latest', label: 'gpt-5.2-chat-latest', route: '/v1/chat/completions', inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, reasoningTokens: 200, costNanos, cacheHit: false, savedNanos: 0, estimated: false, priced: true, latencyMs: 3, atMs: NOW }
}

const segments = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()

describe('journal', () => {
  it('appends one line per record, cuts segments that name their batch, unlinks them once stored', () => {
    const dir = join(tempDataDir(), 'journal')
    const j = openJournal(dir)
    expect(j.cut()).toBeUndefined() // nothing written: no segment
    j.append(rec('a', 1))
    j.append(rec('b', 2))
    const [file] = segments(dir)
    const lines = readFileSync(join(dir, file!), 'utf8').split('\n').filter((l) => l !== '')
    expect(lines).toHaveLength(2)
    expect(fromLine(lines[1]!)).toMatchObject({ keyId: 'b', keyName: 'name-b', costNanos: 2, inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, reasoningTokens: 200, atMs: NOW })
    const id = j.cut()
    expect(file).toBe(id + '.jsonl')
    j.append(rec('c', 3))
    expect(segments(dir)).toHaveLength(2)
    j.stored(id!)
    expect(segments(dir)).toHaveLength(1)
    j.close()
  })

  it('hands the segments a previous process left to the next one, skipping a torn last line', () => {
    const dir = join(tempDataDir(), 'journal')
    const first = openJournal(dir)
    first.append(rec('a', 1))
    first.cut()
    first.append(rec('a', 2))
    first.append(rec('a', 4))
    // No close: the process died. A machine crash could leave half a line.
    const open = segments(dir).at(-1)!
    appendFileSync(join(dir, open), '["a","name-a",null,"gpt')
    const second = openJournal(dir)
    const found = second.recovered()
    expect(found.map((s) => s.records.map((r) => r.costNanos))).toEqual([[1], [2, 4]])
    expect(found.map((s) => s.id + '.jsonl')).toEqual(segments(dir))
    second.close()
  })
})

/** A ledger "process" on a store: its journal under `dir`. */
function start (store: LedgerStore, dir: string, flushMs = 60_000): ReturnType<typeof bufferedLedger> {
  return bufferedLedger(store, { log, metrics: metrics(), flushMs, journal: openJournal(join(dir, 'journal')) })
}

describe('replay after a crash (embedded)', () => {
  it('replays what the store does not have, once; a batch stored before the crash is not counted again', async () => {
    const dir = tempDataDir()
    const db = openSqlite(dir)
    const store = sqliteLedgerStore(db)
    const first = start(store, dir)
    for (let i = 0; i < 10; i++) first.record(rec('k', 100))
    await first.flush() // stored: its segment goes
    for (let i = 0; i < 5; i++) first.record(rec('k', 10, 'team1'))
    // kill -9: nothing more happens in `first`.
    expect(segments(join(dir, 'journal'))).toHaveLength(1)

    // Also the worst case: a batch stored, its segment still there (died between the two).
    const jdir = join(dir, 'journal')
    const j = openJournal(jdir)
    j.append(rec('k', 7))
    const stuck = j.cut()!
    const row = emptyRow('k', 'name-k', 'gpt-5.2-chat-latest', utcDay(NOW))
    addRecord(row, rec('k', 7))
    store.writeSync!([row], stuck)

    const second = start(store, dir, 5)
    await second.flush()
    expect(await second.spentOf('key', 'k', 'total', NOW)).toBe(1000 + 50 + 7)
    expect(await second.spentOf('team', 'team1', 'total', NOW)).toBe(50)
    expect(segments(jdir)).toHaveLength(0)
    const rows = await second.rows(utcDay(NOW), utcDay(NOW))
    expect(rows.reduce((n, r) => n + r.requests, 0)).toBe(16)
    await second.close()

    // A third start finds nothing to replay.
    const third = start(store, dir)
    expect(await third.spentOf('key', 'k', 'total', NOW)).toBe(1057)
    await third.close()
    db.close()
  })

  it('keeps buffered spend in the journal when the store stays down at shutdown', async () => {
    const dir = tempDataDir()
    const db = openSqlite(dir)
    const real = sqliteLedgerStore(db)
    let down = true
    const flaky: LedgerStore = {
      write: async (rows, id) => { if (down) throw new Error('down'); await real.write(rows, id) },
      spent: (...a) => real.spent(...a),
      rows: (...a) => real.rows(...a)
    }
    const first = bufferedLedger(flaky, { log, metrics: metrics(), flushMs: 5, closeTimeoutMs: 50, journal: openJournal(join(dir, 'journal')) })
    first.record(rec('k', 5))
    first.record(rec('k', 6))
    await first.close()
    down = false
    const second = start(real, dir, 5)
    await second.flush()
    expect(await second.spentOf('key', 'k', 'total', NOW)).toBe(11)
    await second.close()
    db.close()
  })
})

describe('replay after a crash (Redis)', () => {
  let redis: PrivateRedis
  let client: RedisClient
  beforeAll(async () => {
    redis = await startRedis()
    client = createRedis(configFrom({ REDIS_URL: redis.url }))!
    await redisReady(client)
  })
  afterAll(async () => {
    client?.disconnect()
    await redis?.stop()
  })

  it('replays under the segment ids: a batch Redis applied before the crash is not applied again', async () => {
    const dir = tempDataDir()
    const store = redisLedgerStore(client)
    const first = start(store, dir)
    for (let i = 0; i < 4; i++) first.record(rec('rk', 1000, 'rteam'))
    // The batch reaches Redis, and the process dies before unlinking its segment.
    const jdir = join(dir, 'journal')
    const j = openJournal(jdir)
    const [seg] = j.recovered()
    const row = emptyRow('rk', 'name-rk', 'gpt-5.2-chat-latest', utcDay(NOW))
    for (const r of seg!.records) addRecord(row, r)
    await store.write([row], seg!.id)
    j.close()
    // And one more record in a new segment, never written.
    const again = openJournal(jdir)
    again.append(rec('rk', 1, 'rteam'))
    again.close()

    const second = start(store, dir, 5)
    await second.flush()
    expect(await store.spent('rk', 'total', NOW)).toBe(4001)
    expect(await store.teamSpent!('rteam', 'month', NOW)).toBe(4001)
    const rows = (await second.rows(utcDay(NOW), utcDay(NOW))).filter((r) => r.keyId === 'rk')
    expect(rows.reduce((n, r) => n + r.requests, 0)).toBe(5)
    expect(segments(jdir)).toHaveLength(0)
    await second.close()
  })
})
