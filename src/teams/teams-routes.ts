import type { FastifyInstance } from 'fastify'
import { parseBody } from '../auth/keys-routes.js'
import type { AuditLog } from '../audit/audit-log.js'
import type { KeyStore } from '../auth/key-store.js'
import { gatewayError } from '../errors.js'
import { newTeamSchema, teamPatchSchema, teamView } from './team-record.js'
import type { TeamStore } from './team-store.js'

export interface TeamsRoutesOptions {
  readonly store: TeamStore
  /** To refuse deleting a team that still has keys. */
  readonly keys: Pick<KeyStore, 'list'>
  readonly audit?: AuditLog
}

/**
 * `/admin/teams`: create, list, get, patch, delete (a team with keys that are not revoked
 * is not deleted: 409 `team_not_empty`). Every change goes to the audit log.
 * @example admin.register(teamsRoutes({ store, keys, audit }))
 */
export function teamsRoutes ({ store, keys, audit }: TeamsRoutesOptions) {
  const found = async (id: string) => {
    const team = await store.get(id)
    if (team === undefined) throw gatewayError('GW_ERR_TEAM_NOT_FOUND', [id])
    return team
  }

  return async function routes (admin: FastifyInstance): Promise<void> {
    admin.post('/teams', async (request, reply) => {
      const team = await store.create(parseBody(newTeamSchema, request.body))
      await audit?.record(request, { action: 'team.create', targetType: 'team', targetId: team.id, after: teamView(team) })
      reply.code(201)
      return teamView(team)
    })

    admin.get('/teams', async () => {
      return { object: 'list', data: (await store.list()).map(teamView) }
    })

    admin.get<{ Params: { id: string } }>('/teams/:id', async (request) => {
      return teamView(await found(request.params.id))
    })

    admin.patch<{ Params: { id: string } }>('/teams/:id', async (request) => {
      const { id } = request.params
      const patch = parseBody(teamPatchSchema, request.body)
      const before = await found(id)
      const after = teamView(await store.update(id, patch))
      await audit?.record(request, { action: 'team.update', targetType: 'team', targetId: id, before: teamView(before), after })
      return after
    })

    admin.delete<{ Params: { id: string } }>('/teams/:id', async (request) => {
      const { id } = request.params
      const team = await found(id)
      const members = (await keys.list()).filter((k) => k.team_id === id && k.revoked_at === null)
      if (members.length > 0) throw gatewayError('GW_ERR_TEAM_NOT_EMPTY', [team.name])
      await store.delete(id)
      await audit?.record(request, { action: 'team.delete', targetType: 'team', targetId: id, before: teamView(team) })
      return { id, object: 'gateway.team', deleted: true }
    })
  }
}
