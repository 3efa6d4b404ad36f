import type { Logger } from 'pino'
import { gatewayError } from '../errors.js'
import type { RedisClient } from '../store/redis.js'
import { openChangeConnections, RedisChangeStore, type ChangeConnections } from '../store/redis-changes.js'
import { applyTeamPatch, buildTeam, teamRecordSchema, type NewTeam, type TeamPatch, type TeamRecord } from './team-record.js'
import type { TeamChange, TeamStore } from './team-store.js'

/**
 * Layout: both hashes under the hash tag `{gw:teams}` (one Cluster slot, so one script
 * may touch both):
 *
 *   {gw:teams}:records  HASH  id   → record JSON
 *   {gw:teams}:names    HASH  name → id
 *
 * Changes are announced on `gw:teams:changed` as `kind:id`.
 */
const RECORDS = '{gw:teams}:records'
const NAMES = '{gw:teams}:names'
export const TEAMS_CHANNEL = 'gw:teams:changed'

const CREATE = `
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`

/** CAS of one record: ARGV id, expected JSON, new JSON ('' = delete), old name, new name. -1 = changed meanwhile, 0 = name taken. */
const REPLACE = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if redis.call('HGET', KEYS[2], ARGV[4]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[4]) end
  return 1
end
if ARGV[5] ~= ARGV[4] then
  if redis.call('HSETNX', KEYS[2], ARGV[5], ARGV[1]) == 0 then return 0 end
  if redis.call('HGET', KEYS[2], ARGV[4]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[4]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`

type Commands = {
  teamsCreate (a: string, b: string, id: string, name: string, json: string): Promise<number>
  teamsReplace (a: string, b: string, id: string, expected: string, json: string, oldName: string, newName: string): Promise<number>
}

function parse (json: string): TeamRecord {
  return teamRecordSchema.parse(JSON.parse(json))
}

const KINDS = new Set(['created', 'updated', 'deleted'])

/**
 * The Redis team store (single node or Cluster): writes on a patient admin connection,
 * changes published and relayed from other instances by a subscriber connection.
 * @example const teams = await createRedisTeamStore(ctx.redis, ctx.log)
 */
export async function createRedisTeamStore (redis: RedisClient, log: Logger): Promise<TeamStore> {
  const connections = await openChangeConnections(redis, TEAMS_CHANNEL, KINDS, log, 'team', (admin) => {
    admin.defineCommand('teamsCreate', { numberOfKeys: 2, lua: CREATE })
    admin.defineCommand('teamsReplace', { numberOfKeys: 2, lua: REPLACE })
  })
  return new RedisTeamStore(redis, connections, log)
}

class RedisTeamStore extends RedisChangeStore<TeamChange> implements TeamStore {
  readonly kind = 'redis'

  constructor (redis: RedisClient, connections: ChangeConnections, log: Logger) {
    super(redis, connections, log, TEAMS_CHANNEL, 'team')
  }

  get #commands (): Commands {
    return this.admin as unknown as Commands
  }

  async create (input: NewTeam): Promise<TeamRecord> {
    const record = buildTeam(input)
    const done = await this.#commands.teamsCreate(RECORDS, NAMES, record.id, record.name, JSON.stringify(record))
    if (done === 0) throw gatewayError('GW_ERR_TEAM_NAME_TAKEN', [input.name], { param: 'name' })
    await this.publish({ id: record.id, kind: 'created', record })
    return record
  }

  async list (): Promise<TeamRecord[]> {
    const all = Object.values(await this.admin.hgetall(RECORDS)).map(parse)
    return all.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id))
  }

  async get (id: string): Promise<TeamRecord | undefined> {
    const json = await this.admin.hget(RECORDS, id)
    return json === null ? undefined : parse(json)
  }

  async update (id: string, patch: TeamPatch): Promise<TeamRecord> {
    const next = (await this.#replace(id, (t) => applyTeamPatch(t, patch)))!
    await this.publish({ id, kind: 'updated', record: next })
    return next
  }

  async delete (id: string): Promise<TeamRecord> {
    let last: TeamRecord | undefined
    await this.#replace(id, (t) => { last = t; return undefined })
    await this.publish({ id, kind: 'deleted' })
    return last!
  }

  /** Read, change (undefined = delete), compare-and-set; retried when another writer got there first. */
  async #replace (id: string, change: (t: TeamRecord) => TeamRecord | undefined): Promise<TeamRecord | undefined> {
    for (let attempt = 0; ; attempt++) {
      const json = await this.admin.hget(RECORDS, id)
      if (json === null) throw gatewayError('GW_ERR_TEAM_NOT_FOUND', [id])
      const current = parse(json)
      const next = change(current)
      const done = await this.#commands.teamsReplace(RECORDS, NAMES, id, json, next === undefined ? '' : JSON.stringify(next), current.name, next?.name ?? current.name)
      if (done === 1) return next
      if (done === 0) throw gatewayError('GW_ERR_TEAM_NAME_TAKEN', [next!.name], { param: 'name' })
      if (attempt >= 10) throw new Error(`team ${id} changed concurrently too often`)
    }
  }
}
