import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configFrom } from '../../src/config/load.js'
import { createMemoryAdmission } from '../../src/ratelimit/admission-memory.js'
import { createRedisAdmission } from '../../src/ratelimit/admission-redis.js'
import type { Admission, Subject, Ticket } from '../../src/ratelimit/admission.js'
import type { BucketView, LimitSpec } from '../../src/ratelimit/limiter.js'
import { NO_CLAIM } from '../../src/ratelimit/reservation.js'
import { createRedis, redisReady, type RedisClient } from '../../src/store/redis.js'
import { waitFor } from '../helpers/gateway.js'
import { startRedis, startRedisCluster } from '../helpers/redis.js'

/** A fake clock the tests move by hand (epoch ms). */
interface FakeClock { t: number, now: () => number }
function fakeClock (): FakeClock {
  const c: FakeClock = { t: 1_764_400_000_000, now: () => c.t }
  return c
}

/** One key's rpm / tpm / concurrency through the admission (no budget, no claim: the plain limits). */
type Decision =
  | { allowed: true, lease: Ticket, requests: BucketView | undefined, tokens: BucketView | undefined }
  | { allowed: false, limit: string, retryAfterMs: number, inFlight: number, requests: BucketView | undefined, tokens: BucketView | undefined }
interface RateLimiter {
  acquire (keyId: string, spec: LimitSpec): Promise<Decision>
  settle (keyId: string, spec: LimitSpec, s: { lease: Ticket | undefined, tokens: number }): Promise<void>
  close (): Promise<void>
}

function limiterOver (a: Admission): RateLimiter {
  const subject = (id: string, spec: LimitSpec): Subject => ({ scope: 'key', id, name: id, ...spec, budget: null })
  return {
    async acquire (keyId, spec) {
      const d = await a.admit([subject(keyId, spec)], NO_CLAIM)
      const v = d.views[0]!
      if (d.allowed) return { allowed: true, lease: d.ticket, requests: v.requests, tokens: v.tokens }
      return { allowed: false, limit: d.limit, retryAfterMs: d.retryAfterMs, inFlight: v.inFlight, requests: v.requests, tokens: v.tokens }
    },
    async settle (keyId, spec, s) {
      const ticket = s.lease ?? { id: 'none', subjects: [subject(keyId, spec)], claim: NO_CLAIM }
      await a.settle(ticket, { tokens: s.tokens, nanos: 0 })
    },
    close: () => a.close()
  }
}

/** A backend under test: `make` builds a limiter on the shared store (a second instance when called twice). */
interface Backend {
  make (clock: () => number, leaseMs?: number): RateLimiter
  redis?: RedisClient
}

const spec = (s: Partial<LimitSpec>): LimitSpec => ({ rpm: null, tpm: null, maxConcurrency: null, ...s })
const newKey = (): string => 'key_' + randomBytes(6).toString('hex')
const admitted = (ds: Decision[]): number => ds.filter((d) => d.allowed).length

/** The contract of RateLimiter (limiter.ts), run against every backend. */
function contract (name: string, setup: () => Promise<{ backend: Backend, stop: () => Promise<void> }>): void {
  describe(`limits contract (rpm, tpm, concurrency): ${name}`, () => {
    let backend: Backend
    let stop: () => Promise<void>
    const made: RateLimiter[] = []
    const make = (clock: FakeClock, leaseMs?: number): RateLimiter => {
      const l = backend.make(clock.now, leaseMs)
      made.push(l)
      return l
    }
    beforeAll(async () => { ({ backend, stop } = await setup()) })
    afterAll(async () => {
      for (const l of made) await l.close()
      await stop()
    })

    it('admits exactly rpm requests in a burst, then refuses with the wait until the next one', async () => {
      const clock = fakeClock()
      const l = make(clock)
      const key = newKey()
      const s = spec({ rpm: 10 })
      const ds: Decision[] = []
      for (let i = 0; i < 12; i++) ds.push(await l.acquire(key, s))
      expect(ds.map((d) => d.allowed)).toEqual([...Array(10).fill(true), false, false])
      expect(ds[0]!.requests).toEqual({ limit: 10, remaining: 9, resetMs: 6000 })
      expect(ds[9]!.requests).toEqual({ limit: 10, remaining: 0, resetMs: 60_000 })
      const refused = ds[10]!
      expect(refused).toMatchObject({ allowed: false, limit: 'rpm', retryAfterMs: 6000, requests: { limit: 10, remaining: 0 } })
      clock.t += 5999
      expect((await l.acquire(key, s)).allowed).toBe(false)
      clock.t += 1
      expect((await l.acquire(key, s)).allowed).toBe(true)
    })

    it('never over-admits concurrent calls (50 at once on rpm 10 → exactly 10)', async () => {
      const clock = fakeClock()
      // Store backends: two instances on one store; memory: one process.
      const a = make(clock)
      const b = name === 'memory' ? a : make(clock)
      const key = newKey()
      const ds = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).acquire(key, spec({ rpm: 10, maxConcurrency: 40 }))))
      expect(admitted(ds)).toBe(10)
    })

    it('TPM admits while tokens are left and debits the real tokens on settle', async () => {
      const clock = fakeClock()
      const l = make(clock)
      const key = newKey()
      const s = spec({ tpm: 1000 })
      const first = await l.acquire(key, s)
      expect(first).toMatchObject({ allowed: true, tokens: { limit: 1000, remaining: 1000, resetMs: 0 } })
      await l.settle(key, s, { lease: undefined, tokens: 2500 })
      const refused = await l.acquire(key, s)
      expect(refused).toMatchObject({ allowed: false, limit: 'tpm', retryAfterMs: 90_001, tokens: { limit: 1000, remaining: 0, resetMs: 150_000 } })
      clock.t += 90_001
      expect(await l.acquire(key, s)).toMatchObject({ allowed: true, tokens: { remaining: 0 } })
      clock.t += 60_000
      expect(await l.acquire(key, s)).toMatchObject({ allowed: true, tokens: { remaining: 1000 } })
    })

    it('holds max_concurrency open requests and frees a slot on settle', async () => {
      const clock = fakeClock()
      const l = make(clock)
      const key = newKey()
      const s = spec({ maxConcurrency: 2 })
      const one = await l.acquire(key, s)
      const two = await l.acquire(key, s)
      expect([one.allowed, two.allowed]).toEqual([true, true])
      const three = await l.acquire(key, s)
      expect(three).toMatchObject({ allowed: false, limit: 'concurrency', retryAfterMs: 1000, inFlight: 2 })
      await l.settle(key, s, { lease: one.allowed ? one.lease : undefined, tokens: 0 })
      expect((await l.acquire(key, s)).allowed).toBe(true)
    })

    it('a refusal takes nothing: a concurrency refusal does not use up rpm', async () => {
      const clock = fakeClock()
      const l = make(clock)
      const key = newKey()
      const s = spec({ rpm: 3, maxConcurrency: 1 })
      const held = await l.acquire(key, s)
      for (let i = 0; i < 5; i++) expect(await l.acquire(key, s)).toMatchObject({ allowed: false, limit: 'concurrency', requests: { remaining: 2 } })
      await l.settle(key, s, { lease: held.allowed ? held.lease : undefined, tokens: 0 })
      expect(await l.acquire(key, s)).toMatchObject({ allowed: true, requests: { remaining: 1 } })
    })

    it('reports the first refusing limit and waits for every refusing one', async () => {
      const clock = fakeClock()
      const l = make(clock)
      const key = newKey()
      const s = spec({ rpm: 1, tpm: 100 })
      expect((await l.acquire(key, s)).allowed).toBe(true)
      await l.settle(key, s, { lease: undefined, tokens: 300 })
      // RPM frees in 60 s, TPM (200 tokens of debt at 100/min) in 120 s.
      expect(await l.acquire(key, s)).toMatchObject({ allowed: false, limit: 'rpm', retryAfterMs: 120_001 })
    })

    it('keeps keys apart and follows a changed limit at once', async () => {
      const clock = fakeClock()
      const l = make(clock)
      const [k1, k2] = [newKey(), newKey()]
      expect((await l.acquire(k1, spec({ rpm: 1 }))).allowed).toBe(true)
      expect((await l.acquire(k1, spec({ rpm: 1 }))).allowed).toBe(false)
      expect((await l.acquire(k2, spec({ rpm: 1 }))).allowed).toBe(true)
      // Raised from 1 to 60 RPM: the bucket refills at the new rate from here on.
      clock.t += 1000
      expect(await l.acquire(k1, spec({ rpm: 60 }))).toMatchObject({ allowed: true, requests: { limit: 60, remaining: 0 } })
    })

    it('forgets a key only once its buckets are full again: debt survives idle minutes', async () => {
      const clock = fakeClock()
      const l = make(clock)
      const [spender, other] = [newKey(), newKey()]
      const s = spec({ rpm: 2, tpm: 1000 })
      expect((await l.acquire(spender, s)).allowed).toBe(true)
      await l.settle(spender, s, { lease: undefined, tokens: 5000 })
      // Minutes pass; other keys come and go (the memory backend sweeps idle keys meanwhile).
      for (let i = 0; i < 3; i++) {
        clock.t += 61_000
        expect((await l.acquire(other, s)).allowed).toBe(true)
      }
      expect(await l.acquire(spender, s)).toMatchObject({ allowed: false, limit: 'tpm', retryAfterMs: 57_001 })
      clock.t += 57_001
      expect(await l.acquire(spender, s)).toMatchObject({ allowed: true, requests: { remaining: 1 } })
    })

    if (name !== 'memory') redisOnly(() => backend, make)
  })
}

/** Lease expiry and renewal: only meaningful where other processes share the leases. */
function redisOnly (backend: () => Backend, make: (c: FakeClock, leaseMs?: number) => RateLimiter): void {
  it('gives back the slots of a crashed instance once its leases expire', async () => {
    const clock = fakeClock()
    const crashed = make(clock, 30_000)
    const key = newKey()
    const s = spec({ maxConcurrency: 1 })
    expect((await crashed.acquire(key, s)).allowed).toBe(true)
    await crashed.close() // stops renewing, never settles: what a crash looks like from Redis
    const survivor = make(clock, 30_000)
    expect((await survivor.acquire(key, s)).allowed).toBe(false)
    clock.t += 30_000
    expect((await survivor.acquire(key, s)).allowed).toBe(true)
  })

  it('renews the leases of open requests so long answers keep their slot', async () => {
    const clock = fakeClock()
    const leaseMs = 600 // renewals every 200 ms of real time, at the fake clock's time
    const holder = make(clock, leaseMs)
    const key = newKey()
    const s = spec({ maxConcurrency: 1 })
    const start = clock.t
    expect((await holder.acquire(key, s)).allowed).toBe(true)
    clock.t += 5000
    const redis = backend().redis!
    const leases = `{gw:spend:${key}}:o`
    await waitFor(async () => Number(await redis.zscore(leases, (await redis.zrange(leases, 0, 0))[0] ?? '')) >= start + 5000 + leaseMs)
    const other = make(clock, leaseMs)
    clock.t += leaseMs - 1
    expect((await other.acquire(key, s)).allowed).toBe(false)
  })
}

contract('memory', async () => ({ backend: { make: (clock) => limiterOver(createMemoryAdmission(() => 0, clock)) }, stop: async () => {} }))

async function redisBackend (config: Record<string, string>): Promise<{ backend: Backend, stop: () => Promise<void> }> {
  const redis = createRedis(configFrom(config))!
  await redisReady(redis)
  return {
    backend: { redis, make: (clock, leaseMs) => limiterOver(createRedisAdmission(redis, { clock, leaseMs, timeoutMs: 5000 })) },
    stop: async () => { await redis.quit() }
  }
}

contract('redis', async () => {
  const server = await startRedis()
  const { backend, stop } = await redisBackend({ REDIS_URL: server.url, REDIS_COMMAND_TIMEOUT_MS: '5000' })
  return { backend, stop: async () => { await stop(); await server.stop() } }
})

contract('redis cluster (3 masters)', async () => {
  const cluster = await startRedisCluster()
  const { backend, stop } = await redisBackend({ REDIS_CLUSTER_NODES: cluster.nodesEnv, REDIS_COMMAND_TIMEOUT_MS: '5000' })
  return { backend, stop: async () => { await stop(); await cluster.stop() } }
})
