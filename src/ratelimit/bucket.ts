/**
 * The arithmetic of the per-minute limits, as pure functions of the state and the clock.
 *
 * Algorithm: a token bucket with an integer level (a continuously refilled "leaky" bucket,
 * equivalent to GCRA), chosen over GCRA's theoretical-arrival-time form and over windows:
 * - TPM needs debt: a request is admitted while the bucket is positive and its real
 *   tokens are debited once the answer is done, possibly driving the level far below
 *   zero (a 100k-token answer on a 10k TPM key blocks the key for ten minutes). A signed
 *   level says that directly; RPM uses the same bucket with a cost of one.
 * - Exactness: GCRA's emission interval (60 s / limit) is not a whole number of
 *   milliseconds, and floating-point TATs drift and round when stored in Redis (Lua prints
 *   numbers with 14 digits). Here the level is kept in "token-milliseconds": a full
 *   bucket holds `limit × 60000` units, one token costs 60000 units and every millisecond
 *   refills `limit` units. With integer-millisecond clocks every value is an integer, so
 *   the TypeScript (memory backend) and the Lua script (Redis backend) agree to the unit.
 * - Unlike fixed windows, a bucket never admits 2× the limit across a window boundary.
 *
 *   level ▲ full = limit·W ───────────────╮        ╭── refills `limit` units per ms
 *         │                              │ request ╱
 *         │                              ╰───────╯  costs W units (one token)
 *       0 ┼──────────────────────────────────────────▶ time
 *         │ (TPM only) debt after a large answer: no admission until level > 0
 *
 * Values stay exact while `limit × 60000 < 2^53`, i.e. for limits below 1.5e11.
 */

/** The window of RPM and TPM, ms. */
export const WINDOW_MS = 60_000

/** One limit's bucket: `level` in token-milliseconds (may be negative), `ts` the last update (epoch ms). */
export interface Bucket {
  readonly level: number
  readonly ts: number
}

/** A check's result: the bucket to store and, when refused, how long until it would pass. */
export interface Check {
  readonly ok: boolean
  readonly bucket: Bucket
  /** Milliseconds until the same request would be admitted (0 when admitted). */
  readonly retryMs: number
}

/**
 * The bucket brought forward to `now`. A missing bucket is full. A clock behind `ts`
 * (another instance's clock lags) refills nothing and keeps `ts`, so skew between
 * instances never drains or double-fills a bucket.
 */
export function refill (bucket: Bucket | undefined, limit: number, now: number): Bucket {
  const full = limit * WINDOW_MS
  if (bucket === undefined) return { level: full, ts: now }
  if (now <= bucket.ts) return { level: Math.min(bucket.level, full), ts: bucket.ts }
  return { level: Math.min(bucket.level + limit * (now - bucket.ts), full), ts: now }
}

/** RPM: takes one request if a whole token is there. */
export function takeRequest (bucket: Bucket | undefined, limit: number, now: number): Check {
  const b = refill(bucket, limit, now)
  if (b.level >= WINDOW_MS) return { ok: true, bucket: { level: b.level - WINDOW_MS, ts: b.ts }, retryMs: 0 }
  return { ok: false, bucket: b, retryMs: Math.ceil((WINDOW_MS - b.level) / limit) }
}

/** TPM: admits while the level is positive (the minute's tokens are not all spent); takes nothing yet. */
export function admitTokens (bucket: Bucket | undefined, limit: number, now: number): Check {
  const b = refill(bucket, limit, now)
  if (b.level > 0) return { ok: true, bucket: b, retryMs: 0 }
  return { ok: false, bucket: b, retryMs: Math.floor(-b.level / limit) + 1 }
}

/** TPM: debits the tokens an answer used, once known; the level may go below zero. */
export function debitTokens (bucket: Bucket | undefined, limit: number, tokens: number, now: number): Bucket {
  const b = refill(bucket, limit, now)
  return { level: b.level - Math.max(0, Math.floor(tokens)) * WINDOW_MS, ts: b.ts }
}

/** Whole tokens (or requests) left in a bucket at `level`; never negative. */
export function remaining (level: number): number {
  return level <= 0 ? 0 : Math.floor(level / WINDOW_MS)
}

/** Milliseconds until a bucket at `level` is full again (OpenAI's "reset" value). */
export function resetMs (level: number, limit: number): number {
  const missing = limit * WINDOW_MS - level
  return missing <= 0 ? 0 : Math.ceil(missing / limit)
}

/**
 * A duration the way OpenAI's `x-ratelimit-reset-*` headers write it (Go's
 * `time.Duration` format, at millisecond resolution): `12ms`, `1s`, `8.64s`, `6m0s`, `1h0m0s`.
 */
export function formatDuration (ms: number): string {
  const total = Math.max(0, Math.ceil(ms))
  if (total === 0) return '0s'
  if (total < 1000) return `${total}ms`
  const h = Math.floor(total / 3_600_000)
  const m = Math.floor((total % 3_600_000) / 60_000)
  const s = (total % 60_000) / 1000
  // `toFixed(3)` then trim: 8.640 → 8.64, 0.000 → 0 (Go prints the shortest exact form).
  const sec = s.toFixed(3).replace(/\.?0+$/, '')
  if (h > 0) return `${h}h${m}m${sec}s`
  if (m > 0) return `${m}m${sec}s`
  return `${sec}s`
}
