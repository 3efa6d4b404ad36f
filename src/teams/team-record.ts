import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { budgetPeriodSchema, limitsSchema } from '../config/schema.js'
import type { TeamLimits } from '../auth/principal.js'

/**
 * A team: a group of keys with limits and a budget of its own, which every key of the team
 * counts against on top of its own. The request path reads it as `TeamLimits`.
 */
export const teamRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  rpm: z.number().int().positive().nullable().default(null),
  tpm: z.number().int().positive().nullable().default(null),
  max_concurrency: z.number().int().positive().nullable().default(null),
  budget_usd: z.number().nonnegative().nullable().default(null),
  budget_period: budgetPeriodSchema.default('month'),
  /** Allow-list of model names and `*` patterns bounding every key of the team; null = every model. */
  models: z.array(z.string()).nullable().default(null),
  metadata: z.record(z.string(), z.string()).default({}),
  created_at: z.string()
})

export type TeamRecord = z.infer<typeof teamRecordSchema>

/** The request path's view of a team is the record itself: this fails to compile if they drift apart. */
export function teamLimits (team: TeamRecord): TeamLimits {
  return team
}

/** What `POST /admin/teams` accepts. Strict: an unknown field is a typo and a 400 naming it. */
export const newTeamSchema = limitsSchema.extend({
  name: z.string().trim().min(1).max(200),
  models: z.array(z.string().trim().min(1).max(200)).max(500).nullable().optional(),
  metadata: z.record(z.string().min(1).max(100), z.string().max(1000))
    .refine((m) => Object.keys(m).length <= 50, 'at most 50 labels').optional()
})

/** PATCH: the same fields, each optional; null clears. */
export const teamPatchSchema = newTeamSchema.partial()

export type NewTeam = z.infer<typeof newTeamSchema>
export type TeamPatch = z.infer<typeof teamPatchSchema>

export function newTeamId (): string {
  return 'team_' + randomBytes(12).toString('hex')
}

/** The record of a new team (fields not given take their defaults). */
export function buildTeam (input: NewTeam, now: Date = new Date()): TeamRecord {
  return {
    id: newTeamId(),
    name: input.name,
    rpm: input.rpm ?? null,
    tpm: input.tpm ?? null,
    max_concurrency: input.max_concurrency ?? null,
    budget_usd: input.budget_usd ?? null,
    budget_period: input.budget_period ?? 'month',
    models: input.models ?? null,
    metadata: input.metadata ?? {},
    created_at: now.toISOString()
  }
}

/** The record after a patch: absent fields unchanged, null clears. */
export function applyTeamPatch (record: TeamRecord, patch: TeamPatch): TeamRecord {
  const next: TeamRecord = { ...record }
  for (const [field, value] of Object.entries(patch) as Array<[keyof TeamPatch, unknown]>) {
    if (value === undefined) continue
    if (field === 'budget_period') next.budget_period = (value ?? 'month') as TeamRecord['budget_period']
    else if (field === 'metadata') next.metadata = (value ?? {}) as Record<string, string>
    else if (field === 'name') next.name = value as string
    else (next as Record<string, unknown>)[field] = value
  }
  return next
}

/** A team as the admin API shows it. */
export function teamView (t: TeamRecord): Record<string, unknown> {
  return { id: t.id, object: 'gateway.team', ...withoutId(t) }
}

function withoutId (t: TeamRecord): Omit<TeamRecord, 'id'> {
  const { id: _id, ...rest } = t
  return rest
}
