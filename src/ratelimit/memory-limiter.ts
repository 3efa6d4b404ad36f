import { admitTokens, debitTokens, resetMs, takeRequest, WINDOW_MS, type Bucket } from './bucket.js'
import { bucketView, type Decision, type LimitName, type LimitSpec, type RateLimiter, type Settlement } from './limiter.js'

interface KeyState {
  r: Bucket | undefined
  t: Bucket | undefined
  readonly leases: Set<string>
  /** When both buckets are full again (the key's state is then the same as none). */
  idleAt: number
}

/** Concurrency gives no retry time of its own: suggest a second (SDKs back off from there). */
export const CONCURRENCY_RETRY_MS = 1000

/**
 * The embedded backend: the limits of one process, in a Map. Leases live exactly as long
 * as their request (the interceptor's handler always settles) and need no expiry: a crash takes
 * them down with everything else. Idle keys (buckets full again, no lease) are dropped by
 * a lazy sweep, so memory follows the keys in use, not every key ever seen.
 * @example const limiter = createMemoryLimiter(Date.now)
 */
export function createMemoryLimiter (clock: () => number = Date.now): RateLimiter {
  const state = new Map<string, KeyState>()
  let nextLease = 0
  let lastSweep = clock()

  const sweep = (now: number): void => {
    if (now - lastSweep < WINDOW_MS) return
    lastSweep = now
    for (const [id, s] of state) {
      if (s.idleAt <= now && s.leases.size === 0) state.delete(id)
    }
  }

  return {
    kind: 'memory',
    async acquire (keyId: string, spec: LimitSpec): Promise<Decision> {
      const now = Math.floor(clock())
      sweep(now)
      let s = state.get(keyId)
      if (s === undefined) {
        s = { r: undefined, t: undefined, leases: new Set(), idleAt: now }
        state.set(keyId, s)
      }
      const r = spec.rpm !== null ? takeRequest(s.r, spec.rpm, now) : undefined
      const t = spec.tpm !== null ? admitTokens(s.t, spec.tpm, now) : undefined
      const full = spec.maxConcurrency !== null && s.leases.size >= spec.maxConcurrency
      const refused: LimitName | undefined = r?.ok === false ? 'rpm' : t?.ok === false ? 'tpm' : full ? 'concurrency' : undefined
      if (refused !== undefined) {
        const retryAfterMs = Math.max(r?.retryMs ?? 0, t?.retryMs ?? 0, full ? CONCURRENCY_RETRY_MS : 0)
        return {
          allowed: false,
          limit: refused,
          retryAfterMs,
          inFlight: s.leases.size,
          // Nothing was taken: the views show the buckets as they are, 0 for the refusing one.
          requests: bucketView(spec.rpm, r?.ok === true ? r.bucket.level + WINDOW_MS : (r?.bucket.level ?? 0), refused === 'rpm'),
          tokens: bucketView(spec.tpm, t?.bucket.level ?? 0, refused === 'tpm')
        }
      }
      if (r !== undefined) s.r = r.bucket
      if (t !== undefined) s.t = t.bucket
      if (spec.rpm !== null) s.idleAt = Math.max(s.idleAt, now + resetMs(s.r!.level, spec.rpm))
      let lease: string | undefined
      if (spec.maxConcurrency !== null) {
        lease = `m${nextLease++}`
        s.leases.add(lease)
      }
      return {
        allowed: true,
        lease,
        requests: bucketView(spec.rpm, s.r?.level ?? 0, false),
        tokens: bucketView(spec.tpm, s.t?.level ?? 0, false)
      }
    },

    async settle (keyId: string, spec: LimitSpec, st: Settlement): Promise<void> {
      const s = state.get(keyId)
      if (s !== undefined && st.lease !== undefined) s.leases.delete(st.lease)
      if (spec.tpm === null || st.tokens <= 0) return
      // The sweep may have dropped an idle key during a long answer: its debt still counts.
      const now = Math.floor(clock())
      const debited = debitTokens(s?.t, spec.tpm, st.tokens, now)
      const idleAt = now + resetMs(debited.level, spec.tpm)
      if (s === undefined) state.set(keyId, { r: undefined, t: debited, leases: new Set(), idleAt })
      else {
        s.t = debited
        s.idleAt = Math.max(s.idleAt, idleAt)
      }
    },

    async close (): Promise<void> {}
  }
}
