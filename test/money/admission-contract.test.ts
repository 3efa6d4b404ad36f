import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configFrom } from '../../src/config/load.js'
import { createLogger } from '../../src/log.js'
import { bufferedLedger, type SpendLedger } from '../../src/metering/ledger.js'
import { redisLedgerStore } from '../../src/metering/ledger-redis.js'
import { sqliteLedgerStore } from '../../src/metering/ledger-sqlite.js'
import type { UsageRecord } from '../../src/metering/record.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import type { Admission, AdmissionDecision, Subject, Ticket } from '../../src/ratelimit/admission.js'
import { createMemoryAdmission } from '../../src/ratelimit/admission-memory.js'
import { createRedisAdmission } from '../../src/ratelimit/admission-redis.js'
import { createRedis, redisReady, type RedisClient } from '../../src/store/redis.js'
import { openSqlite } from '../../src/store/sqlite.js'
import { tempDataDir, waitFor } from '../helpers/gateway.js'
import { startRedis, startRedisCluster } from '../helpers/redis.js'

const log = createLogger('silent')
const NOW = Date.UTC(2026, 11, 1, 15, 0, 0)

/** One instance: its admission and its ledger (the embedded one, or one on the shared Redis). */
interface Instance { admission: Admission, ledger: SpendLedger }

interface Backend {
  /** A new instance on the backend's store (the memory backend: one per store, reused). */
  make (leaseMs?: number): Instance
  /** Resolves once every connection made so far is ready. */
  ready (): Promise<void>
  instances: number
}

const newId = (p: string): string => p + randomBytes(5).toString('hex')
const key = (s: Partial<Subject> = {}): Subject => ({ scope: 'key', id: newId('key_'), name: 'k', rpm: null, tpm: null, maxConcurrency: null, budget: null, ...s })
const team = (s: Partial<Subject> = {}): Subject => ({ scope: 'team', id: newId('team_'), name: 't', rpm: null, tpm: null, maxConcurrency: null, budget: null, ...s })
const budget = (usd: number): Subject['budget'] => ({ nanos: Math.round(usd * 1e9), period: 'month' })

function record (keyId: string, teamId: string | null, costNanos: number): UsageRecord {
  return { keyId, keyName: 'k', teamId, model: 'm', label: 'm', route: '/v1/chat/completions', inputTokens: 1, cachedInputTokens: 0, outputTokens: 1, reasoningTokens: 0, costNanos, cacheHit: false, savedNanos: 0, estimated: false, priced: true, latencyMs: 1, atMs: NOW }
}

/**
 * A request's end as the limits and metering interceptors do it: metering records the
 * usage first (inside), then limits settles the ticket and leaves its id to the ledger.
 */
async function finish (inst: Instance, t: Ticket, costNanos: number, tokens = 0): Promise<void> {
  const k = t.subjects.find((s) => s.scope === 'key')!
  const tm = t.subjects.find((s) => s.scope === 'team')
  if (costNanos > 0 || tokens > 0) inst.ledger.record(record(k.id, tm?.id ?? null, costNanos))
  for (const s of t.subjects) inst.ledger.releaseWithNextBatch(s.scope, s.id, t.id)
  await inst.admission.settle(t, { tokens, nanos: costNanos })
}

function contract (name: string, setup: () => Promise<{ backend: Backend, stop: () => Promise<void> }>): void {
  describe(`admission contract: ${name}`, () => {
    let backend: Backend
    let stop: () => Promise<void>
    beforeAll(async () => { ({ backend, stop } = await setup()) }, 60_000)
    afterAll(async () => { await stop() })

    const many = async (n: number): Promise<Instance[]> => {
      const insts = Array.from({ length: Math.min(n, backend.instances) }, () => backend.make())
      await backend.ready()
      return insts
    }

    it('50 concurrent requests of ~$0.005 on a $0.01 budget: spend stays within budget + one request per instance', async () => {
      const insts = await many(2)
      const k = key({ budget: budget(0.01) })
      const claim = { tokens: 600, nanos: 5_740_000 }
      const actual = 6_265_000
      let admitted = 0
      // Each request runs to its end as soon as it is admitted (as a real answer would).
      await Promise.all(Array.from({ length: 50 }, async (_, i) => {
        const inst = insts[i % insts.length]!
        const d = await inst.admission.admit([k], claim)
        if (!d.allowed) return
        admitted++
        await finish(inst, d.ticket, actual)
      }))
      await Promise.all(insts.map((i) => i.ledger.flush()))
      const spent = await insts[0]!.ledger.spentOf('key', k.id, 'month', Date.now())
      expect(admitted).toBeGreaterThanOrEqual(1)
      expect(spent).toBe(admitted * actual)
      expect(spent).toBeLessThanOrEqual(10_000_000 + insts.length * actual)
      // Spent now: refused, whatever the claim.
      const after = await insts[0]!.admission.admit([k], { tokens: 0, nanos: 0 })
      if (spent >= 10_000_000) expect(after).toMatchObject({ allowed: false, limit: 'budget', refusedBy: 0 })
    })

    it('all at once, none settling: one claim over the budget at most, then every other refused', async () => {
      const [inst] = await many(1)
      const k = key({ budget: budget(0.01) })
      const ds = await Promise.all(Array.from({ length: 50 }, async () => await inst!.admission.admit([k], { tokens: 0, nanos: 4_000_000 })))
      expect(ds.filter((d) => d.allowed)).toHaveLength(2) // 4 + 4 fit in 10, a third does not while others are open
      for (const d of ds) if (d.allowed) await finish(inst!, d.ticket, 0)
    })

    it('a claim larger than the whole budget runs once when nothing else is open', async () => {
      const [inst] = await many(1)
      const k = key({ budget: budget(0.01) })
      const first = await inst!.admission.admit([k], { tokens: 0, nanos: 50_000_000 })
      expect(first.allowed).toBe(true)
      const second = await inst!.admission.admit([k], { tokens: 0, nanos: 1 })
      expect(second).toMatchObject({ allowed: false, limit: 'budget' })
      if (first.allowed) await finish(inst!, first.ticket, 3_000_000)
      await inst!.ledger.flush()
      // Settled below the budget: admitted again.
      expect((await inst!.admission.admit([k], { tokens: 0, nanos: 50_000_000 })).allowed).toBe(true)
    })

    it('settled spend is visible at once, before the ledger stores it, and is not counted twice after', async () => {
      const [a, b] = await many(2)
      const k = key({ budget: budget(0.01) })
      const d = await a!.admission.admit([k], { tokens: 0, nanos: 1_000_000 })
      expect(d.allowed).toBe(true)
      if (!d.allowed) return
      const settled = await (async () => {
        a!.ledger.record(record(k.id, null, 6_000_000))
        a!.ledger.releaseWithNextBatch('key', k.id, d.ticket.id)
        return await a!.admission.settle(d.ticket, { tokens: 0, nanos: 6_000_000 })
      })()
      expect(settled).toEqual([6_000_000])
      // Another instance (or the same one) sees the 6_000_000 before any flush: 6 + 5 > 10 with one open.
      const other = b ?? a!
      const x = await other.admission.admit([k], { tokens: 0, nanos: 3_000_000 })
      expect(x).toMatchObject({ allowed: true, views: [{ spentNanos: 6_000_000 }] })
      const y = await other.admission.admit([k], { tokens: 0, nanos: 3_000_000 })
      expect(y).toMatchObject({ allowed: false, limit: 'budget', views: [{ spentNanos: 6_000_000 }] })
      await a!.ledger.flush()
      if (x.allowed) await finish(other, x.ticket, 0)
      const z = await other.admission.admit([k], { tokens: 0, nanos: 0 })
      expect(z).toMatchObject({ allowed: true, views: [{ spentNanos: 6_000_000 }] })
      if (z.allowed) await finish(other, z.ticket, 0)
      await other.ledger.flush()
      expect(await a!.ledger.spentOf('key', k.id, 'month', Date.now())).toBe(6_000_000)
    })

    it('tpm: 20 concurrent requests of 1,321 tokens on tpm 2000 pass the minute by one reservation at most', async () => {
      const insts = await many(2)
      const k = key({ tpm: 2000 })
      let used = 0
      await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const inst = insts[i % insts.length]!
        const d = await inst.admission.admit([k], { tokens: 1400, nanos: 0 })
        if (!d.allowed) {
          expect(d).toMatchObject({ limit: 'tpm', refusedBy: 0 })
          expect(d.retryAfterMs).toBeGreaterThan(0)
          expect(d.views[0]!.tokens!.remaining).toBe(0)
          return
        }
        used += 1321
        await finish(inst, d.ticket, 0, 1321)
      }))
      expect(used).toBeLessThanOrEqual(2000 + 1400)
      expect(used).toBeGreaterThanOrEqual(1321)
    })

    it('a team refusal names the team; key and team must both pass', async () => {
      const [inst] = await many(1)
      const t = team({ budget: budget(0.01), rpm: 100 })
      const k1 = key({ budget: budget(1) })
      const k2 = key({ budget: budget(1) })
      const d1 = await inst!.admission.admit([k1, t], { tokens: 0, nanos: 8_000_000 })
      expect(d1.allowed).toBe(true)
      const d2 = await inst!.admission.admit([k2, t], { tokens: 0, nanos: 8_000_000 })
      expect(d2).toMatchObject({ allowed: false, refusedBy: 1, limit: 'budget' })
      if (d1.allowed) await finish(inst!, d1.ticket, 9_000_000)
      await inst!.ledger.flush()
      // The team's spend counts every key of it.
      const d3 = await inst!.admission.admit([k2, t], { tokens: 0, nanos: 2_000_000 })
      expect(d3).toMatchObject({ allowed: true, views: [{ spentNanos: 0 }, { spentNanos: 9_000_000 }] })
      if (d3.allowed) await finish(inst!, d3.ticket, 2_000_000)
      await inst!.ledger.flush()
      const d4 = await inst!.admission.admit([k2, t], { tokens: 0, nanos: 0 })
      expect(d4).toMatchObject({ allowed: false, refusedBy: 1, limit: 'budget' })
      // A key refusal comes first and takes nothing from the team.
      const k3 = key({ rpm: 1 })
      const t2 = team({ rpm: 2 })
      expect((await inst!.admission.admit([k3, t2], { tokens: 0, nanos: 0 })).allowed).toBe(true)
      const r = await inst!.admission.admit([k3, t2], { tokens: 0, nanos: 0 })
      expect(r).toMatchObject({ allowed: false, refusedBy: 0, limit: 'rpm' })
      const k4 = key()
      const ok = await inst!.admission.admit([k4, t2], { tokens: 0, nanos: 0 })
      expect(ok.allowed).toBe(true)
      expect(await inst!.admission.admit([k4, t2], { tokens: 0, nanos: 0 })).toMatchObject({ allowed: false, refusedBy: 1, limit: 'rpm' })
    })

    it('concurrency counts open requests of the key and of its team', async () => {
      const [inst] = await many(1)
      const t = team({ maxConcurrency: 3 })
      const ks = [key({ maxConcurrency: 2 }), key({ maxConcurrency: 2 })]
      const ds: AdmissionDecision[] = []
      for (let i = 0; i < 6; i++) ds.push(await inst!.admission.admit([ks[i % 2]!, t], { tokens: 0, nanos: 0 }))
      expect(ds.map((d) => d.allowed)).toEqual([true, true, true, false, false, false])
      expect(ds[3]).toMatchObject({ limit: 'concurrency', refusedBy: 1 })
      for (const d of ds) if (d.allowed) await finish(inst!, d.ticket, 0)
      expect((await inst!.admission.admit([ks[0]!, t], { tokens: 0, nanos: 0 })).allowed).toBe(true)
    })
  })
}

contract('memory', async () => {
  const db = openSqlite(tempDataDir())
  const ledger = bufferedLedger(sqliteLedgerStore(db), { log, metrics: createMetrics(undefined, { defaultMetrics: false }), flushMs: 5 })
  const inst: Instance = { admission: createMemoryAdmission(ledger.spentNow!), ledger }
  return { backend: { make: () => inst, ready: async () => {}, instances: 1 }, stop: async () => { await ledger.close(); db.close() } }
})

async function redisBackend (url: { REDIS_URL?: string, REDIS_CLUSTER_NODES?: string }, instances: number): Promise<{ backend: Backend, clients: RedisClient[], stop: () => Promise<void> }> {
  const clients: RedisClient[] = []
  const made: Instance[] = []
  const backend: Backend = {
    instances,
    ready: async () => { await Promise.all(clients.map((c) => redisReady(c))) },
    make (leaseMs?: number) {
      const redis = createRedis(configFrom({ ...url, REDIS_COMMAND_TIMEOUT_MS: 2000 }))!
      clients.push(redis)
      const inst = {
        admission: createRedisAdmission(redis, { leaseMs, timeoutMs: 3000 }),
        ledger: bufferedLedger(redisLedgerStore(redis), { log, metrics: createMetrics(undefined, { defaultMetrics: false }), flushMs: 5 })
      }
      made.push(inst)
      return inst
    }
  }
  return {
    backend,
    clients,
    stop: async () => {
      for (const i of made) { await i.ledger.close(); await i.admission.close() }
      for (const c of clients) c.disconnect()
    }
  }
}

describe('redis', () => {
  let stopRedis: (() => Promise<void>) | undefined
  contract('two instances on one Redis', async () => {
    const redis = await startRedis()
    stopRedis = () => redis.stop()
    const b = await redisBackend({ REDIS_URL: redis.url }, 2)
    return { backend: b.backend, stop: async () => { await b.stop(); await stopRedis?.() } }
  })
})

describe('redis cluster', () => {
  contract('two instances on a Redis Cluster (key and team in different slots)', async () => {
    const cluster = await startRedisCluster()
    const b = await redisBackend({ REDIS_CLUSTER_NODES: cluster.nodesEnv }, 2)
    return { backend: b.backend, stop: async () => { await b.stop(); await cluster.stop() } }
  })
})

describe('leases', () => {
  it('a reservation of a dead instance expires and its budget comes back', async () => {
    const redis = await startRedis()
    const b = await redisBackend({ REDIS_URL: redis.url }, 2)
    try {
      const dead = b.backend.make(200)
      const alive = b.backend.make(200)
      await b.backend.ready()
      const k = key({ budget: budget(0.01) })
      const d = await dead.admission.admit([k], { tokens: 0, nanos: 9_000_000 })
      expect(d.allowed).toBe(true)
      await dead.admission.close() // stops renewing: the instance is gone
      expect((await alive.admission.admit([k], { tokens: 0, nanos: 9_000_000 })).allowed).toBe(false)
      await waitFor(async () => (await alive.admission.admit([k], { tokens: 0, nanos: 1 })).allowed, 5000, 50)
    } finally {
      await b.stop()
      await redis.stop()
    }
  })

  it('an open reservation of a live instance is renewed past its lease', async () => {
    const redis = await startRedis()
    const b = await redisBackend({ REDIS_URL: redis.url }, 1)
    try {
      const inst = b.backend.make(150)
      await b.backend.ready()
      const k = key({ budget: budget(0.01) })
      const d = await inst.admission.admit([k], { tokens: 0, nanos: 9_000_000 })
      expect(d.allowed).toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 600))
      expect((await inst.admission.admit([k], { tokens: 0, nanos: 9_000_000 }))).toMatchObject({ allowed: false, limit: 'budget' })
    } finally {
      await b.stop()
      await redis.stop()
    }
  })
})
