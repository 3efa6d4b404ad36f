import type { Logger } from 'pino'
import type { KeyPrincipal } from '../auth/principal.js'
import type { Limits } from '../config/schema.js'
import { GatewayError, gatewayError } from '../errors.js'
import type { SpendLedger } from '../metering/ledger.js'
import type { PriceTable } from '../metering/pricing.js'
import { gaugeCell, type GaugeCell } from '../metrics/cells.js'
import type { Metrics } from '../metrics/metrics.js'
import { ForwardingHandler, refuse, type Controller, type Dispatch, type GatewayRequest, type Interceptor, type ResponseEnd, type ResponseHandler, type ResponseHead } from '../proxy/interceptor.js'
import { isLimited, type Admission, type AdmissionDecision, type Subject, type SubjectView, type Ticket } from './admission.js'
import type { FailMode } from './fail-mode.js'
import { admissionError, setViewHeaders } from './headers.js'
import { keyLimits } from './key-limits.js'
import { claimOf, inputEstimate, NO_CLAIM, outputReservation, requestedMaxOutput, type Claim } from './reservation.js'

export interface LimitsOptions {
  readonly admission: Admission
  /** Redis admission: each settled request's reservation is released by the ledger write that stores its spend. */
  readonly ledger: SpendLedger | undefined
  readonly prices: PriceTable
  /** The model's `max_output_tokens`, when the pricing table has one. */
  readonly outputCap: (priced: ReturnType<PriceTable['resolve']>) => number | undefined
  /** RESERVE_OUTPUT_TOKENS. */
  readonly reserveOutput: number
  readonly defaults: Limits
  readonly failMode: FailMode
  readonly metrics: Metrics
  readonly log: Logger
}

/** Routes whose answers are generated tokens: their claim includes the output reservation. */
const GENERATING = new Set(['/v1/chat/completions', '/v1/responses', '/v1/completions'])

/** The key's limits (config defaults merged) and its team's, those that limit anything; key first. */
export function subjectsOf (p: KeyPrincipal, defaults: Limits): Subject[] {
  const out: Subject[] = []
  const { spec, budget } = keyLimits(p.key, defaults)
  const key: Subject = {
    scope: 'key',
    id: p.key.id,
    name: p.key.name,
    rpm: spec.rpm,
    tpm: spec.tpm,
    maxConcurrency: spec.maxConcurrency,
    budget: budget === undefined ? null : { nanos: Math.round(budget.usd * 1e9), period: budget.period }
  }
  if (isLimited(key)) out.push(key)
  const t = p.team
  if (t !== null) {
    const team: Subject = {
      scope: 'team',
      id: t.id,
      name: t.name,
      rpm: t.rpm,
      tpm: t.tpm,
      maxConcurrency: t.max_concurrency,
      budget: t.budget_usd === null ? null : { nanos: Math.round(t.budget_usd * 1e9), period: t.budget_period }
    }
    if (isLimited(team)) out.push(team)
  }
  return out
}

/**
 * The limits interceptor: every limit of the key and of its team in one admission
 * (rpm, tpm, concurrency, budget), with the request's worst case reserved against tpm
 * and budgets (see reservation.ts); OpenAI's `x-ratelimit-*` headers on every answer of
 * a limited key; a 429 naming the scope that refused (`x-gateway-limit-scope`). When
 * the answer is over, however it ended, the reservation settles to the metered usage
 * (`ResponseEnd.usage`, which metering, inside, has recorded by then).
 *
 * Store failures follow LIMITS_FAIL_MODE (open: serve without limits; closed: 503).
 * @example compose(terminal, recorder, access, limitsInterceptor(opts), metering, cache)
 */
export function limitsInterceptor (o: LimitsOptions): Interceptor<KeyPrincipal> {
  const claimFor = (req: GatewayRequest<KeyPrincipal>, subjects: readonly Subject[]): Claim => {
    if (req.method !== 'POST' || req.model === undefined) return NO_CLAIM
    if (!subjects.some((s) => s.tpm !== null || s.budget !== null)) return NO_CLAIM
    const priced = o.prices.resolve(req.model)
    const output = GENERATING.has(req.route) ? outputReservation(requestedMaxOutput(req.json), o.outputCap(priced), o.reserveOutput) : 0
    return claimOf(inputEstimate(req.body?.length ?? 0, req.json !== undefined), output, priced)
  }

  // Gauge cells per subject (subjects are built once per key record): no label hashing per request.
  const cells = new WeakMap<Subject, { budget?: GaugeCell, spent?: GaugeCell, remaining: GaugeCell }>()
  const gauges = (subjects: readonly Subject[], spent: ReadonlyArray<number | undefined>): void => {
    for (let i = 0; i < subjects.length; i++) {
      const s = subjects[i]!
      const n = spent[i]
      if (s.budget === null || n === undefined) continue
      let c = cells.get(s)
      if (c === undefined) {
        const labels = { key: s.name, period: s.budget.period }
        const remaining = gaugeCell(o.metrics.budgetRemaining, { scope: s.scope, name: s.name })
        c = s.scope === 'key' ? { budget: gaugeCell(o.metrics.budget, labels), spent: gaugeCell(o.metrics.budgetSpent, labels), remaining } : { remaining }
        cells.set(s, c)
      }
      c.budget?.set(s.budget.nanos / 1e9)
      c.spent?.set(n / 1e9)
      c.remaining.set(Math.max(0, s.budget.nanos - n) / 1e9)
    }
  }

  const settle = (ticket: Ticket, actual: { tokens: number, nanos: number }): void => {
    if (o.admission.kind === 'redis' && o.ledger !== undefined) {
      for (const s of ticket.subjects) o.ledger.releaseWithNextBatch(s.scope, s.id, ticket.id)
    }
    const settleNow = o.admission.settleNow
    if (settleNow !== undefined) return gauges(ticket.subjects, settleNow(ticket, actual))
    o.admission.settle(ticket, actual).then((spent) => { gauges(ticket.subjects, spent) }, (err: unknown) => {
      // The reservation is released by the ledger's next write, or expires.
      o.failMode.failed(err, 'settle', false)
    })
  }

  // Key and team records are replaced, not changed, when edited: their subjects are built once.
  const built = new WeakMap<KeyPrincipal['key'], { team: KeyPrincipal['team'], subjects: Subject[] }>()
  const subjectsFor = (p: KeyPrincipal): Subject[] => {
    const b = built.get(p.key)
    if (b !== undefined && b.team === p.team) return b.subjects
    const subjects = subjectsOf(p, o.defaults)
    built.set(p.key, { team: p.team, subjects })
    return subjects
  }

  const decided = (req: GatewayRequest<KeyPrincipal>, handler: ResponseHandler, next: Dispatch<KeyPrincipal>, subjects: readonly Subject[], d: AdmissionDecision): void => {
    o.failMode.answered()
    const headers: Record<string, string> = {}
    setViewHeaders(headers, subjects, d)
    gauges(subjects, d.views.map((v: SubjectView) => v.spentNanos))
    if (!d.allowed) {
      o.metrics.rateLimited.inc({ key: req.principal.key.name, limit: d.limit })
      const err = admissionError(d, subjects[d.refusedBy]!, d.views[d.refusedBy]!)
      Object.assign(err.headers, headers)
      return refuse(handler, err)
    }
    next(req, new LimitsHandler(handler, headers, d.ticket, settle))
  }

  return (next) => function limits (req, handler) {
    const subjects = subjectsFor(req.principal)
    // Keys without limits never touch a store, and cost no promise either.
    if (subjects.length === 0) return next(req, handler)
    const claim = claimFor(req, subjects)
    const admitNow = o.admission.admitNow
    if (admitNow !== undefined) {
      // The embedded backend decides in this turn: no promise and no microtask per request.
      try {
        decided(req, handler, next, subjects, admitNow(subjects, claim))
      } catch (err) {
        o.log.error({ err }, 'limits interceptor failed')
      }
      return
    }
    o.admission.admit(subjects, claim).then((d) => { decided(req, handler, next, subjects, d) }, (err: unknown) => {
      try {
        o.failMode.failed(err, 'acquire', true)
      } catch (refusal) {
        return refuse(handler, refusal instanceof GatewayError ? refusal : gatewayError('GW_ERR_INTERNAL', [], { cause: refusal }))
      }
      next(req, handler)
    }).catch((err: unknown) => {
      o.log.error({ err }, 'limits interceptor failed')
    })
  }
}

/** Adds the limit headers to the answer and settles once, when it is over. */
class LimitsHandler extends ForwardingHandler {
  private hit = false
  private settled = false

  constructor (inner: ResponseHandler, private readonly headers: Readonly<Record<string, string>>, private readonly ticket: Ticket, private readonly onSettle: (t: Ticket, actual: { tokens: number, nanos: number }) => void) {
    super(inner)
  }

  override onResponseStart (controller: Controller, head: ResponseHead): void {
    this.hit = head.headers['x-gateway-cache'] === 'HIT'
    Object.assign(head.headers, this.headers)
    this.inner.onResponseStart(controller, head)
  }

  override onResponseEnd (controller: Controller, end: ResponseEnd): void {
    const u = end.usage
    // A hit used no upstream tokens and costs nothing.
    this.settle(this.hit || u === undefined ? 0 : u.inputTokens + u.outputTokens, this.hit || u === undefined ? 0 : u.costNanos)
    this.inner.onResponseEnd(controller, end)
  }

  override onResponseError (controller: Controller, error: GatewayError): void {
    Object.assign(error.headers, this.headers)
    this.settle(0, 0)
    this.inner.onResponseError(controller, error)
  }

  private settle (tokens: number, nanos: number): void {
    if (this.settled) return
    this.settled = true
    this.onSettle(this.ticket, { tokens, nanos })
  }
}
