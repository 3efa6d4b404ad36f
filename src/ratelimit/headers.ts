import type { BudgetPeriod } from '../config/schema.js'
import { gatewayError, type GatewayError } from '../errors.js'
import { formatDuration } from './bucket.js'
import type { BucketView, Decision, LimitSpec } from './limiter.js'

/**
 * Writes OpenAI's rate-limit headers for a decision: the `-requests` triple for keys
 * with RPM, the `-tokens` triple for keys with TPM (max_concurrency has no OpenAI
 * header). Reset values in OpenAI's duration format (`1s`, `6m0s`, `12ms`).
 */
export function setLimitHeaders (headers: Record<string, string>, d: Decision): void {
  if (d.requests !== undefined) setTriple(headers, 'requests', d.requests)
  if (d.tokens !== undefined) setTriple(headers, 'tokens', d.tokens)
}

function setTriple (headers: Record<string, string>, what: 'requests' | 'tokens', v: BucketView): void {
  headers[`x-ratelimit-limit-${what}`] = String(v.limit)
  headers[`x-ratelimit-remaining-${what}`] = String(v.remaining)
  headers[`x-ratelimit-reset-${what}`] = formatDuration(v.resetMs)
}

const LIMIT_TEXT = {
  rpm: { what: 'requests per min (RPM)', type: 'requests' },
  tpm: { what: 'tokens per min (TPM)', type: 'tokens' },
  concurrency: { what: 'concurrent requests', type: 'requests' }
} as const

/**
 * The 429 for a refused decision, OpenAI-style: `rate_limit_exceeded` with `retry-after`
 * (whole seconds, at least 1: SDKs read it as seconds) and `retry-after-ms` (the SDKs
 * prefer it when present).
 */
export function rateLimitError (d: Extract<Decision, { allowed: false }>, spec: LimitSpec): GatewayError {
  const ms = Math.max(1, Math.ceil(d.retryAfterMs))
  const text = LIMIT_TEXT[d.limit]
  const limit = d.limit === 'rpm' ? spec.rpm : d.limit === 'tpm' ? spec.tpm : spec.maxConcurrency
  const detail = d.limit === 'concurrency' ? `Limit ${limit}, In flight ${d.inFlight}` : `Limit ${limit}`
  return gatewayError('GW_ERR_RATE_LIMITED', [text.what, detail, formatDuration(ms)], {
    type: text.type,
    headers: { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(ms) }
  })
}

const PERIOD_TEXT: Record<BudgetPeriod, string> = { day: 'daily', month: 'monthly', total: 'total' }

/** The 429 for a spent budget: `insufficient_quota`, `x-should-retry: false` (from the catalogue). */
export function budgetError (usd: number, period: BudgetPeriod): GatewayError {
  return gatewayError('GW_ERR_BUDGET_EXCEEDED', [PERIOD_TEXT[period], usd.toFixed(2)])
}
