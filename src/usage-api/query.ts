import { z } from 'zod'
import { gatewayError } from '../errors.js'

export const DAY_S = 86_400

export type Report = 'completions' | 'costs'

const USAGE_GROUPS = ['project_id', 'user_id', 'api_key_id', 'model', 'batch', 'service_tier'] as const
const COST_GROUPS = ['project_id', 'line_item', 'api_key_id'] as const
export type UsageGroup = typeof USAGE_GROUPS[number]
export type CostGroup = typeof COST_GROUPS[number]

/** The parsed query of either report. Times in Unix seconds; `end` exclusive. */
export interface ReportQuery {
  readonly start: number
  readonly end: number
  readonly groups: ReadonlySet<string>
  readonly apiKeyIds: ReadonlySet<string> | undefined
  readonly models: ReadonlySet<string> | undefined
  readonly projectIds: ReadonlySet<string> | undefined
  /** Buckets per page. */
  readonly limit: number
  /** Index of the first bucket of this page. */
  readonly offset: number
}

/**
 * A query value as the SDKs send it: `a`, `a,b`, repeated (`x=a&x=b`), or with brackets
 * (`x[]=a&x[]=b`, the openai SDK's form). Undefined when absent.
 */
function list (query: Record<string, unknown>, name: string): string[] | undefined {
  const raw = [query[name], query[name + '[]']].flat().filter((v) => v !== undefined)
  if (raw.length === 0) return undefined
  return raw.flatMap((v) => String(v).split(',')).map((s) => s.trim()).filter((s) => s !== '')
}

function one (query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name]
  if (v === undefined) return undefined
  if (Array.isArray(v)) throw bad(name, 'must be given once')
  return String(v)
}

function bad (param: string, message: string) {
  return gatewayError('GW_ERR_BAD_REQUEST', [`${param}: ${message}`], { param })
}

const seconds = z.coerce.number().int().min(0).max(32_503_680_000)
const PAGE = /^day_(\d{1,6})$/

/**
 * Parses `start_time`, `end_time`, `bucket_width`, `group_by`, the filters, `limit` and
 * `page` as OpenAI's Usage and Costs API takes them. The ledger keeps UTC days, so only
 * `bucket_width=1d` can be answered; `1h` and `1m` are a 400 saying so.
 * @example parseReportQuery('costs', { start_time: '1764547200' }, Date.now())
 */
export function parseReportQuery (report: Report, query: Record<string, unknown>, nowMs: number): ReportQuery {
  const startRaw = one(query, 'start_time')
  if (startRaw === undefined) throw bad('start_time', 'is required (Unix seconds)')
  const start = seconds.safeParse(startRaw)
  if (!start.success) throw bad('start_time', 'must be Unix seconds')
  const endRaw = one(query, 'end_time')
  const end = endRaw === undefined ? undefined : seconds.safeParse(endRaw)
  if (end !== undefined && !end.success) throw bad('end_time', 'must be Unix seconds')
  // Default: the end of today (UTC), so today's spend is in the answer.
  const endS = end?.data ?? (Math.floor(nowMs / 1000 / DAY_S) + 1) * DAY_S
  if (endS <= start.data) throw bad('end_time', 'must be after start_time')

  const width = one(query, 'bucket_width') ?? '1d'
  if (width !== '1d') {
    const known = report === 'completions' ? ['1m', '1h', '1d'] : ['1d']
    throw bad('bucket_width', known.includes(width) ? 'only 1d is supported: the gateway keeps usage per UTC day' : `must be one of ${known.join(', ')}`)
  }

  const allowed: readonly string[] = report === 'completions' ? USAGE_GROUPS : COST_GROUPS
  const groups = list(query, 'group_by') ?? []
  for (const g of groups) if (!allowed.includes(g)) throw bad('group_by', `must be a list of ${allowed.join(', ')}, not ${g}`)

  const max = report === 'completions' ? 31 : 180
  const limitRaw = one(query, 'limit')
  const limit = limitRaw === undefined ? { success: true as const, data: 7 } : z.coerce.number().int().min(1).max(max).safeParse(limitRaw)
  if (!limit.success) throw bad('limit', `must be a whole number from 1 to ${max}`)

  const pageRaw = one(query, 'page')
  const page = pageRaw === undefined ? undefined : PAGE.exec(pageRaw)
  if (page === null) throw bad('page', 'must be a next_page value of an earlier answer')

  const set = (name: string): ReadonlySet<string> | undefined => {
    const v = list(query, name)
    return v === undefined ? undefined : new Set(v)
  }
  return {
    start: start.data,
    end: endS,
    groups: new Set(groups),
    apiKeyIds: set('api_key_ids'),
    models: set('models'),
    projectIds: set('project_ids'),
    limit: limit.data,
    offset: page === undefined ? 0 : Number(page[1])
  }
}
