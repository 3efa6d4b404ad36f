import type { FastifyInstance, FastifyRequest } from 'fastify'
import { authenticate } from '../auth/authenticate.js'
import type { KeyResolver } from '../auth/key-record.js'
import type { Limits } from '../config/schema.js'
import { gatewayError } from '../errors.js'
import type { SpendReader } from '../metering/spend.js'
import { periodDays, type LedgerRow } from '../metering/record.js'
import type { BudgetPeriod } from '../config/schema.js'
import type { Metrics } from '../metrics/metrics.js'
import { keyLimits } from '../ratelimit/key-limits.js'
import { budgetView, type BudgetView } from './budget-view.js'

/** What key info reads of the spend ledger. */
export interface KeyInfoSpend extends SpendReader {
  /** Spend of a key or a team in its budget period (stored plus buffered), where the ledger has it. */
  spentOf? (scope: 'key' | 'team', id: string, period: BudgetPeriod, nowMs: number): Promise<number>
  rows (from: string, to: string): Promise<Array<LedgerRow & { teamId?: string | null }>>
}

/** A team's spend in its budget period: from the ledger's own sum, else summed from its rows. */
async function teamSpent (spend: KeyInfoSpend, teamId: string, period: BudgetPeriod, nowMs: number): Promise<number> {
  if (spend.spentOf !== undefined) return await spend.spentOf('team', teamId, period, nowMs)
  const { from, to } = periodDays(period, nowMs)
  let sum = 0
  for (const r of await spend.rows(from ?? '0000-01-01', to ?? '9999-12-31')) if (r.teamId === teamId) sum += r.costNanos
  return sum
}

export interface KeyInfoOptions {
  readonly resolver: KeyResolver
  readonly spend: KeyInfoSpend
  readonly defaults: Limits
  readonly metrics: Metrics
  readonly now?: () => number
}

async function readSpend (read: () => Promise<number>): Promise<number> {
  try {
    return await read()
  } catch (err) {
    throw gatewayError('GW_ERR_LEDGER_UNAVAILABLE', [(err as { code?: string }).code ?? 'no answer'], { cause: err })
  }
}

/**
 * `GET /key/info` for the holder of a client key: its own limits (the config's defaults
 * filled in, as they are enforced), its team, and both budgets with this period's spend
 * from the spend ledger. Never a secret or a hash: only what the admin list shows.
 * @example await app.register(keyInfoRoutes({ resolver, spend, defaults: config.limits.defaults, metrics }))
 */
export function keyInfoRoutes (o: KeyInfoOptions) {
  const now = o.now ?? Date.now
  return async function routes (app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', authenticate(o.resolver, now))
    app.get('/key/info', async (request: FastifyRequest) => {
      const { key, team } = request.principal!
      const at = now()
      const { spec, budget } = keyLimits(key, o.defaults)
      let keyBudget: BudgetView | null = null
      if (budget !== undefined) {
        const spent = await readSpend(() => o.spend.spentNanos(key.id, budget.period, at))
        keyBudget = budgetView(budget.usd, budget.period, spent, at)
        o.metrics.budgetRemaining.set({ scope: 'key', name: key.name }, keyBudget.remaining_usd)
      }
      let teamBudget: BudgetView | null = null
      if (team !== null && team.budget_usd !== null) {
        const spent = await readSpend(() => teamSpent(o.spend, team.id, team.budget_period, at))
        teamBudget = budgetView(team.budget_usd, team.budget_period, spent, at)
        o.metrics.budgetRemaining.set({ scope: 'team', name: team.name }, teamBudget.remaining_usd)
      }
      return {
        object: 'gateway.key_info',
        id: key.id,
        name: key.name,
        key_prefix: key.key_prefix,
        team: team === null ? null : { id: team.id, name: team.name, models: team.models },
        models: key.models,
        rpm: spec.rpm,
        tpm: spec.tpm,
        max_concurrency: spec.maxConcurrency,
        expires_at: key.expires_at,
        budget: keyBudget,
        team_budget: teamBudget
      }
    })
  }
}
