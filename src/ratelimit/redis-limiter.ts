import { randomBytes } from 'node:crypto'
import type { RedisClient } from '../store/redis.js'
import { ACQUIRE_LUA, RENEW_LUA, SETTLE_LUA } from './redis-scripts.js'
import { bucketView, LimiterUnavailableError, type Decision, type LimitName, type LimitSpec, type RateLimiter, type Settlement } from './limiter.js'

type Arg = string | number
/** The client with the limiter's scripts defined (ioredis `defineCommand`: EVALSHA, EVAL on NOSCRIPT, per Cluster node). */
interface ScriptedClient {
  rlAcquire (k1: string, k2: string, ...args: Arg[]): Promise<number[]>
  rlSettle (k1: string, k2: string, ...args: Arg[]): Promise<number>
  rlRenew (k1: string, ...args: Arg[]): Promise<number>
}

export interface RedisLimiterOptions {
  /** Epoch ms; every instance on one Redis should run NTP (skew only delays refills, see bucket.ts). */
  readonly clock?: () => number
  /** A concurrency lease ends this long after its last renewal (crashed instances' slots come back). */
  readonly leaseMs?: number
  /** Ceiling on one call, ms (the client's own command timeout should hit first). */
  readonly timeoutMs?: number
  /** A lease renewal failed (the caller counts it; renewals retry on the next tick). */
  readonly onRenewError?: (err: unknown) => void
}

const REFUSED: readonly (LimitName | undefined)[] = [undefined, 'rpm', 'tpm', 'concurrency']

/** The keys of one gateway key, in one hash tag (one Cluster slot). */
function keysOf (keyId: string): [string, string] {
  const base = `{rl:${keyId}}`
  return [base, base + ':c']
}

/** Rejects with LimiterUnavailableError when `p` fails or takes longer than `ms`. */
export async function guarded<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new LimiterUnavailableError(`limits store gave no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } catch (err) {
    if (err instanceof LimiterUnavailableError) throw err
    throw new LimiterUnavailableError(`limits store unreachable: ${(err as Error).message}`, { cause: err })
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The shared backend: every check of a request (RPM, TPM admission, concurrency lease) is
 * one Lua script, one round trip, atomic; settling (TPM debit + lease release) is another.
 * Works on a single Redis and on Redis Cluster (all of a key's state is in one hash tag).
 * Open leases are renewed every `leaseMs / 3` while their request runs.
 * @example const limiter = createRedisLimiter(redis, { timeoutMs: config.REDIS_COMMAND_TIMEOUT_MS + 100 })
 */
export function createRedisLimiter (redis: RedisClient, options: RedisLimiterOptions = {}): RateLimiter {
  const clock = options.clock ?? Date.now
  const leaseMs = options.leaseMs ?? 60_000
  const timeoutMs = options.timeoutMs ?? 1000
  redis.defineCommand('rlAcquire', { numberOfKeys: 2, lua: ACQUIRE_LUA })
  redis.defineCommand('rlSettle', { numberOfKeys: 2, lua: SETTLE_LUA })
  redis.defineCommand('rlRenew', { numberOfKeys: 1, lua: RENEW_LUA })
  const scripts = redis as unknown as ScriptedClient
  const instance = randomBytes(6).toString('hex')
  let nextLease = 0
  /** Leases of this instance's open requests, by gateway key id. */
  const open = new Map<string, Set<string>>()

  const renew = async (): Promise<void> => {
    const expiry = Math.floor(clock()) + leaseMs
    await Promise.all([...open].map(async ([keyId, leases]) => {
      try {
        await guarded(scripts.rlRenew(keysOf(keyId)[1], expiry, leaseMs * 2, ...leases), timeoutMs)
      } catch (err) {
        options.onRenewError?.(err)
      }
    }))
  }
  const timer = setInterval(() => { if (open.size > 0) renew().catch(() => {}) }, Math.max(10, Math.floor(leaseMs / 3)))
  timer.unref()

  return {
    kind: 'redis',
    async acquire (keyId: string, spec: LimitSpec): Promise<Decision> {
      const now = Math.floor(clock())
      const lease = spec.maxConcurrency !== null ? `${instance}:${nextLease++}` : ''
      const [k1, k2] = keysOf(keyId)
      const reply = await guarded(scripts.rlAcquire(k1, k2, now, spec.rpm ?? 0, spec.tpm ?? 0, spec.maxConcurrency ?? 0, lease, now + leaseMs, leaseMs * 2), timeoutMs)
      const [code = 0, retryMs = 0, rl = 0, tl = 0, inFlight = 0] = reply.map(Number)
      const refused = REFUSED[code]
      if (refused !== undefined) {
        return {
          allowed: false,
          limit: refused,
          retryAfterMs: retryMs,
          inFlight,
          requests: bucketView(spec.rpm, rl, refused === 'rpm'),
          tokens: bucketView(spec.tpm, tl, refused === 'tpm')
        }
      }
      if (lease !== '') {
        let set = open.get(keyId)
        if (set === undefined) open.set(keyId, set = new Set())
        set.add(lease)
      }
      return { allowed: true, lease: lease === '' ? undefined : lease, requests: bucketView(spec.rpm, rl, false), tokens: bucketView(spec.tpm, tl, false) }
    },

    async settle (keyId: string, spec: LimitSpec, s: Settlement): Promise<void> {
      if (s.lease !== undefined) {
        // Stop renewing first: if the release below fails, the lease still expires.
        const set = open.get(keyId)
        set?.delete(s.lease)
        if (set?.size === 0) open.delete(keyId)
      }
      const tokens = spec.tpm !== null ? Math.max(0, Math.floor(s.tokens)) : 0
      if (s.lease === undefined && tokens === 0) return
      const [k1, k2] = keysOf(keyId)
      await guarded(scripts.rlSettle(k1, k2, Math.floor(clock()), spec.tpm ?? 0, tokens, s.lease ?? ''), timeoutMs)
    },

    async close (): Promise<void> {
      clearInterval(timer)
    }
  }
}
