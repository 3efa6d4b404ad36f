import { remaining, resetMs } from './bucket.js'

/**
 * Shared vocabulary of the limits: a key's limit spec, the header view of a bucket, and
 * the error of a store that cannot answer. The admission (admission.ts) checks them.
 */

/** The limits of one key, already merged with `limits.defaults`; null = no such limit. */
export interface LimitSpec {
  readonly rpm: number | null
  readonly tpm: number | null
  readonly maxConcurrency: number | null
}

/** A bucket's state as the headers show it. */
export interface BucketView {
  readonly limit: number
  /** Whole requests (tokens) left now; 0 when refused. */
  readonly remaining: number
  /** Milliseconds until the bucket is full again. */
  readonly resetMs: number
}

/** The store behind a limiter could not answer; `cause` says why. */
export class LimiterUnavailableError extends Error {
  override name = 'LimiterUnavailableError'
}

/** The header view of a bucket at `level`; a refused request shows 0 remaining. */
export function bucketView (limit: number | null, level: number, refused: boolean): BucketView | undefined {
  if (limit === null) return undefined
  return { limit, remaining: refused ? 0 : remaining(level), resetMs: resetMs(level, limit) }
}
