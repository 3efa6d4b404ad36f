import { nanosToUsd } from '../metering/money.js'
import type { LedgerRow } from '../metering/record.js'
import { DAY_S, type ReportQuery } from './query.js'

/** A ledger row as the store gives it: the team the key was in, when the store keeps it. */
type Row = LedgerRow & { teamId?: string | null }

/** One day bucket: [start, end) in Unix seconds and its UTC day name. */
export interface Bucket { readonly start: number, readonly end: number, readonly day: string }

/** The UTC day buckets covering [start, end): the first starts at the midnight at or before `start`. */
export function dayBuckets (start: number, end: number): Bucket[] {
  const out: Bucket[] = []
  for (let s = start - (start % DAY_S); s < end; s += DAY_S) {
    out.push({ start: s, end: s + DAY_S, day: new Date(s * 1000).toISOString().slice(0, 10) })
  }
  return out
}

/** The page of buckets a query asks for, and the cursor of the next page. */
export function pageOf (q: ReportQuery): { buckets: Bucket[], nextPage: string | null } {
  const all = dayBuckets(q.start, q.end)
  const buckets = all.slice(q.offset, q.offset + q.limit)
  const next = q.offset + q.limit
  return { buckets, nextPage: next < all.length ? `day_${next}` : null }
}

/** Rows the filters keep (a team is a project: `project_id` is the team id). */
export function keep (rows: readonly Row[], q: ReportQuery): Row[] {
  return rows.filter((r) => (q.apiKeyIds === undefined || q.apiKeyIds.has(r.keyId)) &&
    (q.models === undefined || q.models.has(r.model)) &&
    (q.projectIds === undefined || q.projectIds.has(r.teamId ?? '')))
}

interface Sums { input: number, cached: number, output: number, requests: number, costNanos: number }

/** Groups one day's rows by the asked fields; each group keeps one representative row for its field values. */
interface Grouping { readonly project: boolean, readonly key: boolean, readonly model: boolean }

function groupDay (rows: readonly Row[], fields: Grouping): Array<{ row: Row, sums: Sums }> {
  const groups = new Map<string, { row: Row, sums: Sums }>()
  for (const r of rows) {
    const id = (fields.project ? r.teamId ?? '' : '') + '\0' + (fields.key ? r.keyId : '') + '\0' + (fields.model ? r.model : '')
    let g = groups.get(id)
    if (g === undefined) groups.set(id, g = { row: r, sums: { input: 0, cached: 0, output: 0, requests: 0, costNanos: 0 } })
    g.sums.input += r.inputTokens
    g.sums.cached += r.cachedInputTokens
    g.sums.output += r.outputTokens
    // Cache hits reach no model: they are not model requests.
    g.sums.requests += r.requests - r.cacheHits
    g.sums.costNanos += r.costNanos
  }
  return [...groups.values()]
}

const nullable = (on: boolean, v: string | null | undefined): string | null => on && v !== undefined && v !== '' ? v : null

/** One bucket per day, its results one per group of that day's rows. */
function bucketsOf<T> (rows: readonly Row[], buckets: readonly Bucket[], fields: Grouping, result: (g: { row: Row, sums: Sums }) => T) {
  return buckets.map((b) => ({
    object: 'bucket' as const,
    start_time: b.start,
    end_time: b.end,
    results: groupDay(rows.filter((r) => r.day === b.day), fields).map(result)
  }))
}

/**
 * `organization.usage.completions.result`s of each bucket: tokens and model requests,
 * the grouped fields filled in and every other field null.
 */
export function usageBuckets (rows: readonly Row[], q: ReportQuery, buckets: readonly Bucket[]) {
  const project = q.groups.has('project_id')
  const key = q.groups.has('api_key_id')
  const model = q.groups.has('model')
  return bucketsOf(rows, buckets, { project, key, model }, ({ row, sums }) => ({
    object: 'organization.usage.completions.result' as const,
    input_tokens: sums.input,
    output_tokens: sums.output,
    input_cached_tokens: sums.cached,
    input_audio_tokens: 0,
    output_audio_tokens: 0,
    num_model_requests: sums.requests,
    project_id: nullable(project, row.teamId),
    user_id: null,
    api_key_id: nullable(key, row.keyId),
    model: nullable(model, row.model),
    batch: null,
    service_tier: null
  }))
}

/**
 * `organization.costs.result`s of each bucket: the cost in USD (summed as integer
 * nano-dollars, converted once). A line item is a model: the ledger keeps each
 * request's cost whole, priced once, so it is not split into input and output.
 */
export function costBuckets (rows: readonly Row[], q: ReportQuery, buckets: readonly Bucket[]) {
  const project = q.groups.has('project_id')
  const key = q.groups.has('api_key_id')
  const line = q.groups.has('line_item')
  return bucketsOf(rows, buckets, { project, key, model: line }, ({ row, sums }) => ({
    object: 'organization.costs.result' as const,
    amount: { value: nanosToUsd(sums.costNanos), currency: 'usd' },
    line_item: nullable(line, row.model),
    project_id: nullable(project, row.teamId),
    api_key_id: nullable(key, row.keyId),
    quantity: null
  }))
}
