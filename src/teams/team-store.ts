import type { NewTeam, TeamPatch, TeamRecord } from './team-record.js'

/** A change another instance (or this one) made; the team directory reloads or drops that team. */
export interface TeamChange {
  readonly id: string
  readonly kind: 'created' | 'updated' | 'deleted'
  /** The new record, when the change was made by this process (no reload needed). */
  readonly record?: TeamRecord
}

/**
 * Where teams live: SQLite (embedded) or Redis (single node or Cluster), chosen with the
 * key store. The admin API writes through it; the request path reads the in-process
 * TeamDirectory, never the store per request.
 *
 * Contract, for every implementation:
 * - `create` stores a new team; names are unique among teams (`GW_ERR_TEAM_NAME_TAKEN`).
 * - `list` returns every team, oldest first; `get` undefined for an unknown id.
 * - `update` applies a patch (absent unchanged, null clears); throws
 *   `GW_ERR_TEAM_NOT_FOUND` or `GW_ERR_TEAM_NAME_TAKEN`.
 * - `delete` removes the team and returns its last record; `GW_ERR_TEAM_NOT_FOUND` when
 *   unknown. Whether the team still has keys is the caller's check (keys live elsewhere).
 * - Every successful change is announced to `onChange` listeners of every instance
 *   sharing the store (Redis: pub/sub; SQLite: this process) after it is durable.
 * - Store failures reject with the driver's error; callers map them to 503.
 */
export interface TeamStore {
  readonly kind: 'sqlite' | 'redis'
  create (input: NewTeam): Promise<TeamRecord>
  list (): Promise<TeamRecord[]>
  get (id: string): Promise<TeamRecord | undefined>
  update (id: string, patch: TeamPatch): Promise<TeamRecord>
  delete (id: string): Promise<TeamRecord>
  onChange (listener: (change: TeamChange) => void): () => void
  /** Called when changes may have been missed (pub/sub reconnect): reload everything. */
  onResync? (listener: () => void): () => void
  ready (): Promise<boolean>
  close (): Promise<void>
}
