import { remaining, resetMs } from './bucket.js'

/**
 * The per-key limits (RPM, TPM, concurrency) behind one interface with two backends:
 * `memory-limiter.ts` (one process) and `redis-limiter.ts` (any number of instances on one
 * Redis or Redis Cluster). The interceptor in `feature.ts` is the only caller.
 */

/** The limits of one key, already merged with `limits.defaults`; null = no such limit. */
export interface LimitSpec {
  readonly rpm: number | null
  readonly tpm: number | null
  readonly maxConcurrency: number | null
}

/** Which limit refused a request (also the `limit` label of `gateway_rate_limited_total`). */
export type LimitName = 'rpm' | 'tpm' | 'concurrency'

/** A bucket's state as the headers show it. */
export interface BucketView {
  readonly limit: number
  /** Whole requests (tokens) left now; 0 when refused. */
  readonly remaining: number
  /** Milliseconds until the bucket is full again. */
  readonly resetMs: number
}

export type Decision =
  | {
    readonly allowed: true
    /** Set for keys with `maxConcurrency`: give it back to `settle`. */
    readonly lease: string | undefined
    /** Set for keys with `rpm` (after taking this request). */
    readonly requests: BucketView | undefined
    /** Set for keys with `tpm`. */
    readonly tokens: BucketView | undefined
  }
  | {
    readonly allowed: false
    /** The first limit that refused, in the order rpm, tpm, concurrency. */
    readonly limit: LimitName
    /** Milliseconds until every refusing limit would admit (concurrency: a guess of 1 s). */
    readonly retryAfterMs: number
    /** Concurrent requests open now (for the message). */
    readonly inFlight: number
    readonly requests: BucketView | undefined
    readonly tokens: BucketView | undefined
  }

/** What an admitted request gives back when it ends. */
export interface Settlement {
  readonly lease: string | undefined
  /** Total tokens (input + output) the answer used, 0 when unknown. */
  readonly tokens: number
}

/**
 * Contract, for both backends:
 * - `acquire(keyId, spec)` checks every limit of `spec` at once, atomically: either all of
 *   them admit (one request taken from the RPM bucket, a concurrency lease added) or
 *   nothing changes. Concurrent calls, from any number of instances on one store, never
 *   admit more than the limits allow. A spec without limits must not be passed (callers
 *   skip the limiter for it: no round trip).
 * - `settle(keyId, spec, s)` runs once for every admitted request, however it ended: it
 *   debits `s.tokens` from the TPM bucket and releases `s.lease`, in one round trip.
 *   Redis leases also end by themselves `leaseMs` after the last renewal, so a crashed
 *   instance's slots come back; the backend renews the leases of its open requests.
 *   Memory leases need no expiry: they die with their process.
 * - Values returned (`requests`, `tokens`) describe the buckets after the decision; a
 *   refusal takes nothing, and shows 0 remaining for the limit that refused.
 * - Time is the backend's `clock` (injected; tests pass a fake one). Redis instances use
 *   their own clocks: skew only delays refills a little (see bucket.ts `refill`).
 * - Failure: when the store cannot answer (down, timeout), `acquire` rejects with
 *   `LimiterUnavailableError` within the store's command timeout, never later; the caller
 *   applies LIMITS_FAIL_MODE (open: serve unlimited; closed: 503). `settle` rejects the
 *   same way; the lease then expires on its own and the tokens are not debited. A call
 *   that timed out may still run once the store answers again (a paused Redis): it then
 *   takes a request and a lease that nobody settles, until the lease expires.
 *   The memory backend never fails.
 */
export interface RateLimiter {
  readonly kind: 'memory' | 'redis'
  acquire (keyId: string, spec: LimitSpec): Promise<Decision>
  settle (keyId: string, spec: LimitSpec, s: Settlement): Promise<void>
  /** Stops renewing leases (shutdown). Does not close a shared Redis connection. */
  close (): Promise<void>
}

/** The store behind a limiter could not answer; `cause` says why. */
export class LimiterUnavailableError extends Error {
  override name = 'LimiterUnavailableError'
}

/** True when a spec limits anything. */
export function hasLimits (spec: LimitSpec): boolean {
  return spec.rpm !== null || spec.tpm !== null || spec.maxConcurrency !== null
}

/** The header view of a bucket at `level`; a refused request shows 0 remaining. */
export function bucketView (limit: number | null, level: number, refused: boolean): BucketView | undefined {
  if (limit === null) return undefined
  return { limit, remaining: refused ? 0 : remaining(level), resetMs: resetMs(level, limit) }
}
