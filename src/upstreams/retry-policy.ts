import type { ErrorCode } from '../errors.js'

/**
 * Which failed attempts are worth another upstream, as tables: a connection error, no
 * headers in time, 429, 500, 502, 503 and 504. Anything else (a 400, a 401, a 404, a
 * redirect) would fail the same way anywhere and is the client's answer.
 * Reasons are the `reason` label of the retries metric.
 */
export type RetryReason = 'unavailable' | 'timeout' | '429' | '500' | '502' | '503' | '504'

const RETRY_ERRORS: Partial<Record<ErrorCode, RetryReason>> = {
  GW_ERR_UPSTREAM_UNAVAILABLE: 'unavailable',
  GW_ERR_UPSTREAM_TIMEOUT: 'timeout'
}

const RETRY_STATUSES: Readonly<Record<number, RetryReason>> = {
  429: '429',
  500: '500',
  502: '502',
  503: '503',
  504: '504'
}

/** The longest `retry-after` worth waiting for before trying the same upstream again. */
export const MAX_RETRY_AFTER_MS = 2000

/** Why an attempt failed, or undefined when the error is final. */
export function errorRetryReason (code: ErrorCode): RetryReason | undefined {
  return RETRY_ERRORS[code]
}

/** Why an upstream answer failed, or undefined when it is the client's answer. */
export function statusRetryReason (status: number): RetryReason | undefined {
  return RETRY_STATUSES[status]
}

/**
 * Milliseconds to wait before this same upstream may be tried again for the request:
 * what it asked for, or Infinity when it said `x-should-retry: false` (OpenAI sends it on
 * errors that retrying the same account cannot fix; another upstream may still serve).
 */
export function sameUpstreamWaitMs (headers: Readonly<Record<string, string | string[]>>, now: number): number {
  return first(headers['x-should-retry']) === 'false' ? Infinity : retryAfterMs(headers, now)
}

/**
 * Milliseconds the upstream asks to wait: `retry-after-ms` (OpenAI's), else `retry-after`
 * in seconds or as an HTTP date; 0 when absent or unreadable.
 */
export function retryAfterMs (headers: Readonly<Record<string, string | string[]>>, now: number): number {
  const ms = first(headers['retry-after-ms'])
  if (ms !== undefined) {
    const n = Number(ms)
    if (Number.isFinite(n) && n >= 0) return Math.ceil(n)
  }
  const value = first(headers['retry-after'])
  if (value === undefined || value === '') return 0
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return seconds > 0 ? Math.ceil(seconds * 1000) : 0
  const date = Date.parse(value)
  return Number.isFinite(date) ? Math.max(0, date - now) : 0
}

function first (v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}
