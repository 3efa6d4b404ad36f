import type { BudgetPeriod } from '../config/schema.js'
import { gatewayError, type GatewayError } from '../errors.js'
import { formatUsd } from '../metering/money.js'
import type { AdmissionDecision, Subject, SubjectView } from './admission.js'
import { formatDuration } from './bucket.js'
import type { BucketView } from './limiter.js'

// Header names as constants: a template literal builds a new string on every request.
const NAMES = {
  requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens']
} as const

function setTriple (headers: Record<string, string>, what: 'requests' | 'tokens', v: BucketView): void {
  const n = NAMES[what]
  headers[n[0]] = String(v.limit)
  headers[n[1]] = String(v.remaining)
  headers[n[2]] = formatDuration(v.resetMs)
}

const LIMIT_TEXT = {
  rpm: { what: 'requests per min (RPM)', type: 'requests' },
  tpm: { what: 'tokens per min (TPM)', type: 'tokens' },
  concurrency: { what: 'concurrent requests', type: 'requests' }
} as const

const PERIOD_TEXT: Record<BudgetPeriod, string> = { day: 'daily', month: 'monthly', total: 'total' }

/** The header that names whose limit refused. */
export const LIMIT_SCOPE_HEADER = 'x-gateway-limit-scope'

/**
 * OpenAI's rate-limit headers for an admission: the key's buckets where it has them,
 * else its team's; on a refusal by rpm or tpm, the refusing subject's bucket (which
 * reads 0 remaining). A refusal also names its scope.
 */
export function setViewHeaders (headers: Record<string, string>, subjects: readonly Subject[], d: AdmissionDecision): void {
  const pick = (what: 'requests' | 'tokens'): BucketView | undefined => {
    if (!d.allowed && d.limit === (what === 'requests' ? 'rpm' : 'tpm')) return d.views[d.refusedBy]?.[what]
    for (const v of d.views) if (v[what] !== undefined) return v[what]
    return undefined
  }
  const requests = pick('requests')
  const tokens = pick('tokens')
  if (requests !== undefined) setTriple(headers, 'requests', requests)
  if (tokens !== undefined) setTriple(headers, 'tokens', tokens)
  if (!d.allowed) headers[LIMIT_SCOPE_HEADER] = subjects[d.refusedBy]?.scope ?? 'key'
}

/**
 * The 429 of a refused admission, for the subject that refused: `insufficient_quota`
 * for a budget (spent, or not enough left for this request's worst case while others
 * hold the rest), else `rate_limit_exceeded` with `retry-after` / `retry-after-ms`.
 */
export function admissionError (d: Extract<AdmissionDecision, { allowed: false }>, s: Subject, v: SubjectView): GatewayError {
  if (d.limit === 'budget' && s.budget !== null) {
    const spent = v.spentNanos ?? 0
    const period = PERIOD_TEXT[s.budget.period]
    const budget = formatUsd(s.budget.nanos)
    if (spent < s.budget.nanos) {
      const whose = s.scope === 'key' ? 'this key\'s' : `the team ${s.name}'s`
      return gatewayError('GW_ERR_BUDGET_RESERVED', [formatUsd(d.claim.nanos), whose, period, budget, formatUsd(spent), formatUsd(v.heldNanos)])
    }
    return s.scope === 'key' ? gatewayError('GW_ERR_BUDGET_EXCEEDED', [period, budget]) : gatewayError('GW_ERR_TEAM_BUDGET_EXCEEDED', [s.name, period, budget])
  }
  const limit = d.limit === 'budget' ? 'rpm' : d.limit
  const ms = Math.max(1, Math.ceil(d.retryAfterMs))
  const text = LIMIT_TEXT[limit]
  const value = limit === 'rpm' ? s.rpm : limit === 'tpm' ? s.tpm : s.maxConcurrency
  const detail = limit === 'concurrency' ? `Limit ${value}, In flight ${v.inFlight}` : `Limit ${value}`
  const args = s.scope === 'key' ? [text.what, detail, formatDuration(ms)] : [text.what, s.name, detail, formatDuration(ms)]
  return gatewayError(s.scope === 'key' ? 'GW_ERR_RATE_LIMITED' : 'GW_ERR_TEAM_RATE_LIMITED', args, {
    type: text.type,
    headers: { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(ms) }
  })
}
