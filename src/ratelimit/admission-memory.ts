import type { BudgetPeriod } from '../config/schema.js'
import { refill, resetMs, takeRequest, WINDOW_MS, type Bucket } from './bucket.js'
import { bucketView } from './limiter.js'
import { type Actual, type Admission, type AdmissionDecision, type AdmissionLimit, type Subject, type SubjectView, type Ticket } from './admission.js'
import { admits, type Claim } from './reservation.js'

/**
 * Spend of a subject's current budget period, read synchronously (the embedded ledger:
 * SQLite plus what this process still buffers). Synchronous on purpose: the read, the
 * check and the reservation happen in one turn of the event loop, which is what makes
 * them atomic against concurrent requests of this process.
 */
export type SyncSpend = (scope: Subject['scope'], id: string, period: BudgetPeriod, nowMs: number) => number

/** Concurrency gives no retry time of its own: suggest a second (SDKs back off from there). */
export const CONCURRENCY_RETRY_MS = 1000

interface Held { readonly nanos: number, readonly tokens: number }

interface State {
  r: Bucket | undefined
  t: Bucket | undefined
  readonly open: Map<string, Held>
  openNanos: number
  openTokens: number
  /** When both buckets are full again and nothing is open (the state is then the same as none). */
  idleAt: number
}

interface Check {
  readonly refused: AdmissionLimit | undefined
  readonly retryMs: number
  readonly r: Bucket | undefined
  /** The rpm check passed (`r` then has this request taken). */
  readonly rOk: boolean
  readonly t: Bucket | undefined
  readonly spent: number | undefined
  readonly held: number
}

/** Milliseconds until a tpm bucket at `level` with `open` tokens held would take `claim` more. */
export function tpmRetryMs (level: number, open: number, claim: number, tpm: number): number {
  if (open === 0) return level > 0 ? 0 : Math.floor(-level / tpm) + 1
  // Others hold tokens: they settle within their answer; a refill is the upper bound.
  return Math.min(WINDOW_MS, Math.max(1, Math.ceil(((open + claim) * WINDOW_MS - level) / tpm)))
}

/**
 * The embedded backend: state in a Map, leases that live exactly as long as their
 * request (the limits interceptor always settles; a crash takes them down with the
 * process). Budgets read the embedded ledger synchronously; a request's money is
 * released at settlement, after metering has put its record in the ledger (metering
 * sits inside limits on the request path, so its end runs first): spend and
 * reservation never both miss it.
 * @example const admission = createMemoryAdmission(spendNow)
 */
export function createMemoryAdmission (spendNow: SyncSpend, clock: () => number = Date.now): Admission {
  const states = new Map<string, State>()
  let next = 0
  let lastSweep = clock()

  const stateOf = (s: Subject, now: number): State => {
    const k = s.scope + ':' + s.id
    let st = states.get(k)
    if (st === undefined) states.set(k, st = { r: undefined, t: undefined, open: new Map(), openNanos: 0, openTokens: 0, idleAt: now })
    return st
  }

  const sweep = (now: number): void => {
    if (now - lastSweep < WINDOW_MS) return
    lastSweep = now
    for (const [k, st] of states) if (st.idleAt <= now && st.open.size === 0) states.delete(k)
  }

  // Limits are checked in REFUSAL_ORDER, so the first that fails is the one named (no Set per check).
  const check = (s: Subject, st: State, claim: Claim, now: number): Check => {
    let refused: AdmissionLimit | undefined
    let retryMs = 0
    let spent: number | undefined
    if (s.budget !== null) {
      spent = spendNow(s.scope, s.id, s.budget.period, now)
      if (!admits({ used: spent, open: st.openNanos, claim: claim.nanos, limit: s.budget.nanos })) refused = 'budget'
    }
    const r = s.rpm !== null ? takeRequest(st.r, s.rpm, now) : undefined
    if (r !== undefined && !r.ok) {
      refused ??= 'rpm'
      retryMs = Math.max(retryMs, r.retryMs)
    }
    const t = s.tpm !== null ? refill(st.t, s.tpm, now) : undefined
    if (t !== undefined && s.tpm !== null) {
      const full = s.tpm * WINDOW_MS
      if (!admits({ used: full - t.level, open: st.openTokens * WINDOW_MS, claim: claim.tokens * WINDOW_MS, limit: full })) {
        refused ??= 'tpm'
        retryMs = Math.max(retryMs, tpmRetryMs(t.level, st.openTokens, claim.tokens, s.tpm))
      }
    }
    if (s.maxConcurrency !== null && st.open.size >= s.maxConcurrency) {
      refused ??= 'concurrency'
      retryMs = Math.max(retryMs, CONCURRENCY_RETRY_MS)
    }
    return { refused, retryMs, r: r?.bucket, rOk: r?.ok === true, t, spent, held: st.openNanos }
  }

  const view = (s: Subject, st: State, c: Check, refused: AdmissionLimit | undefined, taken: boolean): SubjectView => ({
    // Refused: nothing was taken, so a passed rpm check shows its request given back.
    requests: bucketView(s.rpm, (c.r?.level ?? 0) + (!taken && c.rOk ? WINDOW_MS : 0), refused === 'rpm'),
    tokens: bucketView(s.tpm, (c.t?.level ?? 0) - st.openTokens * WINDOW_MS, refused === 'tpm'),
    spentNanos: c.spent,
    heldNanos: c.held,
    inFlight: st.open.size
  })

  const admitNow = (subjects: readonly Subject[], claim: Claim): AdmissionDecision => {
    const now = Math.floor(clock())
    sweep(now)
    const states = subjects.map((s) => stateOf(s, now))
    const checks = subjects.map((s, i) => check(s, states[i]!, claim, now))
    const refusedBy = checks.findIndex((c) => c.refused !== undefined)
    if (refusedBy >= 0) {
      const c = checks[refusedBy]!
      const budget = c.refused === 'budget'
      return {
        allowed: false,
        refusedBy,
        limit: c.refused!,
        retryAfterMs: budget ? 0 : Math.max(...checks.map((x) => x.retryMs)),
        claim,
        views: subjects.map((s, i) => view(s, states[i]!, checks[i]!, checks[i]!.refused, false))
      }
    }
    const ticket: Ticket = { id: `m${next++}`, subjects, claim }
    const views = subjects.map((s, i) => {
      const st = states[i]!
      const c = checks[i]!
      if (c.r !== undefined) st.r = c.r
      if (c.t !== undefined) st.t = c.t
      const held = { nanos: s.budget !== null ? claim.nanos : 0, tokens: s.tpm !== null ? claim.tokens : 0 }
      st.open.set(ticket.id, held)
      st.openNanos += held.nanos
      st.openTokens += held.tokens
      if (s.rpm !== null && st.r !== undefined) st.idleAt = Math.max(st.idleAt, now + resetMs(st.r.level, s.rpm))
      return view(s, st, c, undefined, true)
    })
    return { allowed: true, ticket, views }
  }

  const settleNow = (ticket: Ticket, actual: Actual): Array<number | undefined> => {
    const now = Math.floor(clock())
    return ticket.subjects.map((s) => {
      const st = stateOf(s, now)
      const held = st.open.get(ticket.id)
      if (held !== undefined) {
        st.open.delete(ticket.id)
        st.openNanos -= held.nanos
        st.openTokens -= held.tokens
      }
      if (s.tpm !== null && actual.tokens > 0) {
        const t = refill(st.t, s.tpm, now)
        st.t = { level: t.level - Math.floor(actual.tokens) * WINDOW_MS, ts: t.ts }
        st.idleAt = Math.max(st.idleAt, now + resetMs(st.t.level, s.tpm))
      }
      return s.budget !== null ? spendNow(s.scope, s.id, s.budget.period, now) : undefined
    })
  }

  return {
    kind: 'memory',
    admitNow,
    settleNow,
    async admit (subjects, claim) { return admitNow(subjects, claim) },
    async settle (ticket, actual) { return settleNow(ticket, actual) },
    async close () {}
  }
}
