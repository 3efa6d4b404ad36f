import type { Logger } from 'pino'
import type { TeamRecord } from './team-record.js'
import type { TeamChange, TeamStore } from './team-store.js'

/**
 * Every team, in process: teams are few (tens, hundreds), so all of them are loaded at
 * start-up and kept current by the store's change announcements, with a periodic full
 * reload as the safety net for a lost message. The request path reads `get` (a Map
 * lookup); only a team this instance has never heard of (created on another instance a
 * moment ago) costs one store read, shared by concurrent requests.
 */
export interface TeamDirectory {
  /** The team, from memory; a Promise only when it must be read from the store. */
  resolve (id: string): TeamRecord | undefined | Promise<TeamRecord | undefined>
  /** The team as known in memory now. */
  get (id: string): TeamRecord | undefined
  refresh (): Promise<void>
  close (): Promise<void>
}

export interface TeamDirectoryOptions {
  /** Milliseconds between full reloads. */
  readonly refreshMs?: number
}

/**
 * Loads every team and keeps them current.
 * @example const teams = await createTeamDirectory(store, log); teams.get(key.team_id)
 */
export async function createTeamDirectory (store: TeamStore, log: Logger, options: TeamDirectoryOptions = {}): Promise<TeamDirectory> {
  const directory = new Directory(store, log, options)
  await directory.refresh()
  return directory
}

class Directory implements TeamDirectory {
  #teams = new Map<string, TeamRecord>()
  readonly #inflight = new Map<string, Promise<TeamRecord | undefined>>()
  readonly #unsubscribe: Array<() => void> = []
  readonly #timer: NodeJS.Timeout
  // Bumped by every change: a read that started before a change must not overwrite it.
  #generation = 0

  constructor (private readonly store: TeamStore, private readonly log: Logger, options: TeamDirectoryOptions) {
    this.#unsubscribe.push(store.onChange((change) => { this.#onChange(change) }))
    const resync = store.onResync?.(() => { this.#safeRefresh() })
    if (resync !== undefined) this.#unsubscribe.push(resync)
    this.#timer = setInterval(() => { this.#safeRefresh() }, options.refreshMs ?? 30_000)
    this.#timer.unref()
  }

  get (id: string): TeamRecord | undefined {
    return this.#teams.get(id)
  }

  resolve (id: string): TeamRecord | undefined | Promise<TeamRecord | undefined> {
    const team = this.#teams.get(id)
    if (team !== undefined) return team
    let pending = this.#inflight.get(id)
    if (pending === undefined) {
      pending = this.#load(id).finally(() => this.#inflight.delete(id))
      this.#inflight.set(id, pending)
    }
    return pending
  }

  async #load (id: string): Promise<TeamRecord | undefined> {
    const started = this.#generation
    const team = await this.store.get(id)
    if (team !== undefined && started === this.#generation) this.#teams.set(id, team)
    return team
  }

  #onChange (change: TeamChange): void {
    this.#generation++
    if (change.kind === 'deleted') {
      this.#teams.delete(change.id)
      return
    }
    if (change.record !== undefined) {
      this.#teams.set(change.id, change.record)
      return
    }
    this.store.get(change.id).then((team) => {
      if (team === undefined) this.#teams.delete(change.id)
      else this.#teams.set(change.id, team)
    }, (err: Error) => {
      this.log.warn({ err: err.message, id: change.id }, 'team reload failed: serving the last known limits until the next refresh')
    })
  }

  async refresh (): Promise<void> {
    const started = this.#generation
    const all = await this.store.list()
    if (started !== this.#generation) return
    this.#teams = new Map(all.map((t) => [t.id, t]))
  }

  #safeRefresh (): void {
    this.refresh().catch((err: Error) => { this.log.warn({ err: err.message }, 'team refresh failed: serving cached teams') })
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    for (const off of this.#unsubscribe.splice(0)) off()
  }
}
