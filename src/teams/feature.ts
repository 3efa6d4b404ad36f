import { storeCall } from '../store/store-call.js'
import type { Feature, FeatureContext } from '../feature.js'
import { auditLog, auditRoutes, type AuditLog } from '../audit/audit-log.js'
import type { AuditStore } from '../audit/audit-entry.js'
import { openAuditStore } from '../audit/open.js'
import type { KeyResolver } from '../auth/key-record.js'
import type { KeyStore } from '../auth/key-store.js'
import type { SpendLedger } from '../metering/ledger.js'
import { usageApiRoutes } from '../usage-api/routes.js'
import { keyInfoRoutes } from './key-info.js'
import { createRedisTeamStore } from './redis-team-store.js'
import { createSqliteTeamStore } from './sqlite-team-store.js'
import { createTeamDirectory, type TeamDirectory, type TeamDirectoryOptions } from './team-directory.js'
import type { TeamStore } from './team-store.js'
import { teamsRoutes } from './teams-routes.js'

/** What keys need of teams before the teams feature is complete: the directory and the audit log. */
export interface OpenedTeams {
  readonly store: TeamStore
  readonly directory: TeamDirectory
  readonly auditStore: AuditStore
  readonly audit: AuditLog
}

function guarded (store: TeamStore): TeamStore {
  return {
    kind: store.kind,
    create: (input) => storeCall(store.create(input)),
    list: () => storeCall(store.list()),
    get: (id) => storeCall(store.get(id)),
    update: (id, patch) => storeCall(store.update(id, patch)),
    delete: (id) => storeCall(store.delete(id)),
    onChange: (listener) => store.onChange(listener),
    onResync: (listener) => store.onResync?.(listener) ?? (() => {}),
    ready: () => store.ready(),
    close: () => store.close()
  }
}

/**
 * Opens the team store (beside the keys: Redis when configured, else SQLite), loads every
 * team into the in-process directory, and opens the audit log. Called before the keys
 * feature, whose resolver reads teams from the directory.
 * @example const opened = await openTeams(ctx); const keys = await createKeysFeature(ctx, { teams: opened.directory, audit: opened.audit })
 */
export async function openTeams (ctx: FeatureContext, options: TeamDirectoryOptions = {}): Promise<OpenedTeams> {
  let raw: TeamStore
  if (ctx.redis !== undefined) raw = await createRedisTeamStore(ctx.redis, ctx.log)
  else if (ctx.sqlite !== undefined) raw = createSqliteTeamStore(ctx.sqlite)
  else throw new Error('teams: no store (neither Redis nor SQLite is configured)')
  const store = guarded(raw)
  const directory = await createTeamDirectory(store, ctx.log, options)
  const auditStore = openAuditStore(ctx)
  return { store, directory, auditStore, audit: auditLog(auditStore, ctx.log) }
}

export interface TeamsFeatureDeps {
  readonly keys: KeyStore
  readonly resolver: KeyResolver
  readonly ledger: SpendLedger
}

/**
 * Teams and the self-service and reporting routes around keys: `/admin/teams`,
 * `/admin/audit`, `GET /key/info` (client key) and OpenAI's Usage and Costs API
 * (`/v1/organization/usage/completions`, `/v1/organization/costs`, admin key).
 * @example features.push(createTeamsFeature(ctx, opened, { keys: keys.store, resolver: keys.resolver, ledger: metering.ledger }))
 */
export function createTeamsFeature (ctx: FeatureContext, opened: OpenedTeams, deps: TeamsFeatureDeps): Feature {
  const { store, directory, auditStore, audit } = opened
  const teams = teamsRoutes({ store, keys: deps.keys, audit })
  const auditList = auditRoutes(auditStore)
  return {
    name: 'teams',
    adminRoutes: async (admin) => {
      await teams(admin)
      await auditList(admin)
    },
    routes: [
      keyInfoRoutes({ resolver: deps.resolver, spend: deps.ledger, defaults: ctx.config.limits.defaults, metrics: ctx.metrics }),
      usageApiRoutes({ adminKey: ctx.config.ADMIN_KEY, resolver: deps.resolver, ledger: deps.ledger })
    ],
    ready: () => store.ready(),
    close: async () => {
      await directory.close()
      await store.close()
    }
  }
}
