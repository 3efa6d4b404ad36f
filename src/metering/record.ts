import type { BudgetPeriod } from '../config/schema.js'

/** One metered request: what the ledger, the metrics and the log line are told. */
export interface UsageRecord {
  readonly keyId: string
  readonly keyName: string
  /** The key's team when the request was made (team budgets read it); null or absent = none. */
  readonly teamId?: string | null
  /** The client's model after aliases (what the ledger groups by). */
  readonly model: string
  /** The bounded metrics label: the pricing entry or `other`. */
  readonly label: string
  readonly route: string
  readonly inputTokens: number
  readonly cachedInputTokens: number
  readonly outputTokens: number
  readonly reasoningTokens: number
  /** Nano-dollars charged (0 for a cache hit). */
  readonly costNanos: number
  readonly cacheHit: boolean
  /** Nano-dollars a cache hit did not spend upstream. */
  readonly savedNanos: number
  readonly estimated: boolean
  /** False when the model has no price (tokens are metered, cost is unknown). */
  readonly priced: boolean
  readonly latencyMs: number
  /** Epoch milliseconds at the end of the request: its UTC day is the ledger day. */
  readonly atMs: number
  /** The name of the key's team then (metrics label; the ledger keeps the team's id). */
  readonly teamName?: string | null
}

/** The ledger's unit: sums per key × model × UTC day. Money in integer nano-dollars. */
export interface LedgerRow {
  keyId: string
  keyName: string
  /** The key's team when these requests were made (null or absent: none). Part of the row's identity. */
  teamId?: string | null
  model: string
  /** `YYYY-MM-DD`, UTC. */
  day: string
  requests: number
  inputTokens: number
  cachedInputTokens: number
  outputTokens: number
  reasoningTokens: number
  costNanos: number
  cacheHits: number
  savedNanos: number
  estimated: number
}

/** The counters of a row, in a fixed order (storage field names). */
export const COUNTERS = ['requests', 'inputTokens', 'cachedInputTokens', 'outputTokens', 'reasoningTokens', 'costNanos', 'cacheHits', 'savedNanos', 'estimated'] as const
export type Counter = typeof COUNTERS[number]

const DAY_MS = 86_400_000
let dayStart = 0
let dayName = '1970-01-01'

/** `YYYY-MM-DD` (UTC) of an epoch ms; the current day is remembered (one call per request). */
export function utcDay (ms: number): string {
  if (ms >= dayStart && ms < dayStart + DAY_MS) return dayName
  const name = new Date(ms).toISOString().slice(0, 10)
  if (ms >= 0) {
    dayStart = ms - (ms % DAY_MS)
    dayName = name
  }
  return name
}

/** The first and last day of a budget period containing `nowMs` (undefined bounds = all time). */
export function periodDays (period: BudgetPeriod, nowMs: number): { readonly from: string | undefined, readonly to: string | undefined } {
  const day = utcDay(nowMs)
  if (period === 'total') return ALL_TIME
  // Budgets read this twice per request: the bounds are made once per day, not per call.
  if (day !== boundsDay) {
    boundsDay = day
    dayBounds = { from: day, to: day }
    monthBounds = { from: day.slice(0, 8) + '01', to: day.slice(0, 8) + '31' }
  }
  return period === 'day' ? dayBounds : monthBounds
}

const ALL_TIME = { from: undefined, to: undefined } as const
let boundsDay = ''
let dayBounds: { readonly from: string, readonly to: string } = { from: '', to: '' }
let monthBounds = dayBounds

export function emptyRow (keyId: string, keyName: string, model: string, day: string, teamId: string | null = null): LedgerRow {
  return { keyId, keyName, teamId, model, day, requests: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0, costNanos: 0, cacheHits: 0, savedNanos: 0, estimated: 0 }
}

/**
 * Adds a record to a row. A cache hit adds a request, a hit and its savings, and no
 * tokens: the tokens columns count what the upstream processed (and billed).
 */
export function addRecord (row: LedgerRow, r: UsageRecord): void {
  row.keyName = r.keyName
  row.requests++
  if (r.cacheHit) {
    row.cacheHits++
    row.savedNanos += r.savedNanos
  } else {
    row.inputTokens += r.inputTokens
    row.cachedInputTokens += r.cachedInputTokens
    row.outputTokens += r.outputTokens
    row.reasoningTokens += r.reasoningTokens
    row.costNanos += r.costNanos
  }
  if (r.estimated) row.estimated++
}

export function addRow (into: LedgerRow, from: LedgerRow): void {
  into.keyName = from.keyName
  for (const c of COUNTERS) into[c] += from[c]
}

/** A row's identity: key × model × day, and the team the key was in (a key may change teams). */
export function rowId (keyId: string, model: string, day: string, teamId?: string | null): string {
  return keyId + '\0' + model + '\0' + day + '\0' + (teamId ?? '')
}
