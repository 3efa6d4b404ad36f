import type { BudgetPeriod } from '../config/schema.js'
import { utcDay } from '../metering/record.js'
import type { BucketView } from './limiter.js'
import type { Claim } from './reservation.js'

/**
 * Admission of one request against every limit that applies to it: the key's and its
 * team's rpm, tpm, concurrency and budget, all at once. Two backends:
 * `admission-memory.ts` (one process, spend from the embedded ledger) and
 * `admission-redis.ts` (any number of instances on one Redis; one Lua script per call).
 */

/** Whose limit: the key's own, or its team's. Also the `x-gateway-limit-scope` header. */
export type Scope = 'key' | 'team'

/** Which limit refused (the `limit` label of `gateway_rate_limited_total`). */
export type AdmissionLimit = 'rpm' | 'tpm' | 'concurrency' | 'budget'

/** One subject's limits; null = no such limit. Key first, then team. */
export interface Subject {
  readonly scope: Scope
  /** Key id or team id. */
  readonly id: string
  /** Key or team name (messages, metric labels). */
  readonly name: string
  readonly rpm: number | null
  readonly tpm: number | null
  readonly maxConcurrency: number | null
  /** Nano-dollars per period. */
  readonly budget: { readonly nanos: number, readonly period: BudgetPeriod } | null
}

/** One subject's state after a decision, for headers and gauges. */
export interface SubjectView {
  readonly requests: BucketView | undefined
  readonly tokens: BucketView | undefined
  /** Spend of the budget period (settled, visible to every instance); undefined without a budget. */
  readonly spentNanos: number | undefined
  /** Nano-dollars other open requests hold against the budget (before this one); 0 without a budget. */
  readonly heldNanos: number
  /** Requests of this subject open now (after this one, when admitted). */
  readonly inFlight: number
}

/** What an admitted request holds until it settles. */
export interface Ticket {
  /** Unique per request (the reservation's id in every subject's state). */
  readonly id: string
  readonly subjects: readonly Subject[]
  readonly claim: Claim
}

export type AdmissionDecision =
  | { readonly allowed: true, readonly ticket: Ticket, readonly views: readonly SubjectView[] }
  | {
    readonly allowed: false
    /** Index in `subjects` of the first subject that refused (key before team). */
    readonly refusedBy: number
    /** Its first refusing limit, in the order budget, rpm, tpm, concurrency. */
    readonly limit: AdmissionLimit
    /** Milliseconds until the refusing limits would admit (budget: 0, not a matter of time). */
    readonly retryAfterMs: number
    readonly views: readonly SubjectView[]
    /** The claim that did not fit. */
    readonly claim: Claim
  }

/** What the answer used, once known (0 and 0 when nothing was metered). */
export interface Actual {
  readonly tokens: number
  readonly nanos: number
}

/**
 * Contract, for both backends:
 * - `admit(subjects, claim)` checks every limit of every subject in one atomic step:
 *   either all admit (a request taken from each rpm bucket; the claim reserved against
 *   each tpm and budget; a lease that counts towards each concurrency limit) or nothing
 *   changes. tpm and budgets follow `admits` in reservation.ts: spend (tokens) plus the
 *   open reservations plus this claim fit, or nothing else is open and the limit is not
 *   reached. Concurrent calls from any number of instances on one store never admit more.
 * - `settle(ticket, actual)` runs once per admitted request, however it ended: the
 *   reservation is replaced by the actual figures (tokens debited from tpm at once; the
 *   cost counted as spend), the lease released. The reservation's money is released
 *   only where the actual cost is visible to every instance as spend, never before.
 *   Resolves with each subject's spend after it (undefined where no budget) for gauges.
 * - Leases (Redis) expire `leaseMs` after their last renewal, so a dead instance's
 *   reservations come back; the backend renews those of its open requests.
 * - Failure: a store that cannot answer makes `admit` reject with
 *   `LimiterUnavailableError` within its command timeout (the caller applies
 *   LIMITS_FAIL_MODE); `settle` rejects the same way and the lease then expires or is
 *   cleared when the ledger stores the spend. The memory backend never fails.
 */
export interface Admission {
  readonly kind: 'memory' | 'redis'
  admit (subjects: readonly Subject[], claim: Claim): Promise<AdmissionDecision>
  settle (ticket: Ticket, actual: Actual): Promise<ReadonlyArray<number | undefined>>
  /** `admit`, done when it returns, where the backend can (memory): no promise per request. */
  readonly admitNow?: (subjects: readonly Subject[], claim: Claim) => AdmissionDecision
  /** `settle`, done when it returns (memory). */
  readonly settleNow?: (ticket: Ticket, actual: Actual) => ReadonlyArray<number | undefined>
  close (): Promise<void>
}

/** True when a subject has any limit this module checks. */
export function isLimited (s: Subject): boolean {
  return s.rpm !== null || s.tpm !== null || s.maxConcurrency !== null || s.budget !== null
}

/** The field of a spend sum a budget period reads: `d:<day>`, `m:<YYYY-MM>`, `t`. */
export function periodField (period: BudgetPeriod, nowMs: number): string {
  if (period === 'total') return 't'
  const day = utcDay(nowMs)
  return period === 'day' ? 'd:' + day : 'm:' + day.slice(0, 7)
}

/** Order in which one subject's refusing limits are named (budget: the one not fixed by waiting). */
export const REFUSAL_ORDER: readonly AdmissionLimit[] = ['budget', 'rpm', 'tpm', 'concurrency']
