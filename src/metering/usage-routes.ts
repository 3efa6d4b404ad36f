import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { gatewayError } from '../errors.js'
import type { SpendLedger } from './ledger.js'
import { nanosToUsd } from './money.js'
import { addRow, emptyRow, utcDay, type LedgerRow } from './record.js'
import type { UsageRowJson } from './usage-row.js'

const GROUPS = ['key', 'team', 'model', 'day'] as const
/** What `group_by` means when absent. */
const DEFAULT_GROUPS = ['key', 'model', 'day'] as const
type Group = typeof GROUPS[number]

const day = z.string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine((d) => !Number.isNaN(Date.parse(d + 'T00:00:00Z')) && new Date(d + 'T00:00:00Z').toISOString().startsWith(d), 'is not a calendar date')

const groupBy = z.string()
  .transform((s) => s.split(',').map((g) => g.trim()).filter((g) => g !== ''))
  .pipe(z.array(z.enum(GROUPS, { error: 'must be a comma list of key, team, model, day' })))

export const usageQuerySchema = z.object({
  from: day.optional(),
  to: day.optional(),
  /** Absent: key,model,day. Empty: one row of totals. */
  group_by: groupBy.optional(),
  key_id: z.string().min(1).optional(),
  /** A team id; `none` selects spend of keys without a team. */
  team_id: z.string().min(1).optional(),
  model: z.string().min(1).optional()
})

export type UsageQuery = z.infer<typeof usageQuerySchema>

/** A ledger row as the store gives it: the team the key was in, when the store keeps it. */
type Row = LedgerRow & { teamId?: string | null }

/** One group's sums; names are the latest known (a renamed key or team shows its new name). */
interface Group_ { row: LedgerRow, teamId: string }

/** Team names by id (the team directory); a deleted team is named by nothing (null). */
export type TeamNames = (teamId: string) => string | undefined

function toJson (g: Group_, groups: ReadonlySet<Group>, teamName: TeamNames): UsageRowJson {
  const row = g.row
  return {
    ...(groups.has('key') ? { key_id: row.keyId, key_name: row.keyName } : {}),
    ...(groups.has('team') ? { team_id: g.teamId === '' ? null : g.teamId, team_name: g.teamId === '' ? null : teamName(g.teamId) ?? null } : {}),
    ...(groups.has('model') ? { model: row.model } : {}),
    ...(groups.has('day') ? { day: row.day } : {}),
    requests: row.requests,
    input_tokens: row.inputTokens,
    cached_input_tokens: row.cachedInputTokens,
    output_tokens: row.outputTokens,
    reasoning_tokens: row.reasoningTokens,
    cost_usd: nanosToUsd(row.costNanos),
    cache_hits: row.cacheHits,
    saved_usd: nanosToUsd(row.savedNanos)
  }
}

/**
 * Sums ledger rows per group (integers all the way; USD only in the JSON), sorted by
 * day, team, key name, model.
 */
export function groupRows (rows: readonly Row[], groups: ReadonlySet<Group>): Group_[] {
  const out = new Map<string, Group_>()
  // A renamed key shows its latest name on every row.
  const names = new Map<string, { day: string, name: string }>()
  for (const r of rows) {
    const n = names.get(r.keyId)
    if (n === undefined || r.day >= n.day) names.set(r.keyId, { day: r.day, name: r.keyName })
  }
  for (const r of rows) {
    const keyId = groups.has('key') ? r.keyId : ''
    const teamId = groups.has('team') ? r.teamId ?? '' : ''
    const model = groups.has('model') ? r.model : ''
    const d = groups.has('day') ? r.day : ''
    const id = keyId + '\0' + teamId + '\0' + model + '\0' + d
    let g = out.get(id)
    if (g === undefined) out.set(id, g = { row: emptyRow(keyId, '', model, d), teamId })
    addRow(g.row, r)
    g.row.keyName = groups.has('key') ? names.get(r.keyId)!.name : ''
  }
  return [...out.values()].sort((a, b) => a.row.day.localeCompare(b.row.day) || a.teamId.localeCompare(b.teamId) || a.row.keyName.localeCompare(b.row.keyName) || a.row.keyId.localeCompare(b.row.keyId) || a.row.model.localeCompare(b.row.model))
}

/** The rows a query's filters keep (`team_id=none`: keys without a team). */
export function filterRows (rows: readonly Row[], q: Pick<UsageQuery, 'key_id' | 'team_id' | 'model'>): Row[] {
  const team = q.team_id === 'none' ? '' : q.team_id
  return rows.filter((r) => (q.key_id === undefined || r.keyId === q.key_id) &&
    (team === undefined || (r.teamId ?? '') === team) &&
    (q.model === undefined || r.model === q.model))
}

/**
 * `GET /admin/usage?from=YYYY-MM-DD&to=YYYY-MM-DD&group_by=key,team,model,day` (UTC days,
 * inclusive; `from` defaults to the 1st of this month, `to` to today), filtered by
 * `key_id`, `team_id` and `model` when given.
 */
export async function usageRoutes (admin: FastifyInstance, ledger: SpendLedger, teamName: TeamNames = () => undefined): Promise<void> {
  admin.get('/usage', async (request) => {
    const parsed = usageQuerySchema.safeParse(request.query ?? {})
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const param = String(issue.path[0] ?? 'query')
      throw gatewayError('GW_ERR_BAD_REQUEST', [`${param}: ${issue.message}`], { param })
    }
    const today = utcDay(Date.now())
    const from = parsed.data.from ?? today.slice(0, 8) + '01'
    const to = parsed.data.to ?? today
    if (from > to) throw gatewayError('GW_ERR_BAD_REQUEST', [`from (${from}) is after to (${to})`], { param: 'from' })
    const groups = new Set<Group>(parsed.data.group_by ?? DEFAULT_GROUPS)
    let rows: Row[]
    try {
      rows = await ledger.rows(from, to)
    } catch (err) {
      // The cause goes to the log only: store errors may name hosts.
      throw gatewayError('GW_ERR_LEDGER_UNAVAILABLE', [(err as { code?: string }).code ?? 'no answer'], { cause: err })
    }
    const grouped = groupRows(filterRows(rows, parsed.data), groups)
    let total = 0
    for (const g of grouped) total += g.row.costNanos
    return { object: 'list', data: grouped.map((g) => toJson(g, groups, teamName)), total_cost_usd: nanosToUsd(total) }
  })
}
