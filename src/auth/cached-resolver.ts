import type { Logger } from 'pino'
import { gatewayError } from '../errors.js'
import { hashKey, type KeyRecord, type KeyResolver } from './key-record.js'
import type { TeamLimits } from './principal.js'
import { KeyCache } from './key-cache.js'
import { STORED_SECRET, type KeyChange, type KeyStore } from './key-store.js'

export interface CachedResolverOptions {
  /** Key records kept in process (keys unused since the last sweep evicted beyond). */
  readonly maxEntries?: number
  /** Milliseconds an unknown key is answered "unknown" without asking the store. */
  readonly negativeTtlMs?: number
  /** Unknown keys remembered at most (oldest forgotten first). */
  readonly maxNegative?: number
  /** Store lookups in flight at most; beyond, new keys get 503 until one finishes (flood guard). */
  readonly maxPendingLookups?: number
  /** Milliseconds between full reloads: the safety net for a lost change message. */
  readonly refreshMs?: number
  readonly now?: () => number
  /** Where keys' teams are looked up (in process); absent: no teams. */
  readonly teams?: TeamLookup
}

/** The in-process team directory as the resolver needs it. */
export interface TeamLookup {
  resolve (id: string): TeamLimits | undefined | Promise<TeamLimits | undefined>
}

export interface CachedKeyResolver extends KeyResolver {
  /** Reloads every cached record from the store now (also runs every `refreshMs`). */
  refresh (): Promise<void>
  close (): Promise<void>
}

/**
 * The hot-path key lookup. Per request it hashes the secret (SHA-256, ~1 µs) and reads
 * maps; the store is asked only on a miss, once per secret at a time.
 *
 *   secret ─sha256─▶ static keys (config file) ─▶ KeyCache (hash → record) ─▶ unknown?
 *                                                     ▲                           │ miss
 *          store.onChange (pub/sub) ── reload/mark ───┘       store.findByHash ◀──┘
 *
 * - Bounded: beyond `maxEntries`, keys not used since the last sweep are evicted first.
 * - A change (any instance) reloads that key's record; a revocation marks it revoked at
 *   once, before the reload; a rotation forgets every cached secret of the key, so the
 *   old one is looked up again and works only while its grace period lasts. A creation clears the negative cache, so a key tried before
 *   it existed works as soon as it is announced.
 * - Secrets that cannot be stored keys (not `sk-` + 43 URL-safe characters) never reach
 *   the store: a flood of junk keys costs a regex test each. Well-formed unknown keys cost
 *   one lookup each, at most `maxPendingLookups` at a time (beyond: 503, retried by SDKs).
 * - While the store is unreachable, cached keys keep working; a key not in cache gets the
 *   store's error (503), never a wrong 401.
 * @example const resolver = createCachedKeyResolver(store, staticKeyRecords(config.keys), log)
 */
export function createCachedKeyResolver (store: KeyStore, statics: ReadonlyMap<string, KeyRecord>, log: Logger, options: CachedResolverOptions = {}): CachedKeyResolver {
  return new CachedResolver(store, statics, log, options)
}

class CachedResolver implements CachedKeyResolver {
  readonly #cache: KeyCache
  readonly #inflight = new Map<string, Promise<KeyRecord | undefined>>()
  readonly #now: () => number
  readonly #maxPending: number
  readonly #timer: NodeJS.Timeout
  readonly #unsubscribe: Array<() => void> = []
  // Bumped by every change: a lookup that started before a change must not cache its answer.
  #generation = 0
  private readonly teams: TeamLookup | undefined

  constructor (private readonly store: KeyStore, private readonly statics: ReadonlyMap<string, KeyRecord>, private readonly log: Logger, options: CachedResolverOptions) {
    this.teams = options.teams
    this.#now = options.now ?? Date.now
    this.#maxPending = options.maxPendingLookups ?? 256
    this.#cache = new KeyCache({ maxEntries: options.maxEntries ?? 10_000, negativeTtlMs: options.negativeTtlMs ?? 2_000, maxNegative: options.maxNegative ?? 10_000, now: this.#now })
    this.#unsubscribe.push(store.onChange((change) => { this.#onChange(change) }))
    const resync = store.onResync?.(() => { this.#safeRefresh() })
    if (resync !== undefined) this.#unsubscribe.push(resync)
    this.#timer = setInterval(() => { this.#safeRefresh() }, options.refreshMs ?? 30_000)
    this.#timer.unref()
  }

  team (teamId: string): TeamLimits | undefined | Promise<TeamLimits | undefined> {
    return this.teams?.resolve(teamId)
  }

  resolve (secret: string): KeyRecord | undefined | Promise<KeyRecord | undefined> {
    const hash = hashKey(secret)
    const record = this.statics.get(hash) ?? this.#cache.get(hash)
    if (record !== undefined) return record
    if (!STORED_SECRET.test(secret) || this.#cache.isUnknown(hash)) return undefined
    let pending = this.#inflight.get(hash)
    if (pending === undefined) {
      if (this.#inflight.size >= this.#maxPending) return Promise.reject(gatewayError('GW_ERR_STORE_UNAVAILABLE', ['too many new keys are being checked at once; retry shortly']))
      pending = this.#load(hash).finally(() => this.#inflight.delete(hash))
      this.#inflight.set(hash, pending)
    }
    return pending
  }

  async #load (hash: string): Promise<KeyRecord | undefined> {
    for (;;) {
      const started = this.#generation
      const found = await this.store.findByHash(hash)
      if (started !== this.#generation) continue
      if (found === undefined) {
        this.#cache.setUnknown(hash)
        return undefined
      }
      return this.#cache.set(hash, found.record, found.graceUntil)
    }
  }

  #onChange (change: KeyChange): void {
    this.#generation++
    if (change.kind === 'created') {
      this.#cache.clearUnknown()
      return
    }
    if (!this.#cache.has(change.id)) return
    if (change.kind === 'rotated') {
      this.#cache.drop(change.id)
      return
    }
    if (change.kind === 'revoked') {
      const at = new Date(this.#now()).toISOString()
      this.#cache.update(change.id, (r) => r.revoked_at === null ? { ...r, revoked_at: at } : r)
    }
    this.#reload(change.id).catch(() => {})
  }

  async #reload (id: string): Promise<void> {
    try {
      const record = await this.store.get(id)
      this.#cache.update(id, () => record)
    } catch (err) {
      // Unknown state: ask the store again at the next request rather than trust stale limits.
      this.#cache.update(id, () => undefined)
      this.log.warn({ err: (err as Error).message, id }, 'key reload failed')
    }
  }

  async refresh (): Promise<void> {
    const started = this.#generation
    const byId = new Map((await this.store.list()).map((r) => [r.id, r]))
    if (started !== this.#generation) return
    for (const id of this.#cache.ids()) this.#cache.update(id, () => byId.get(id))
    this.#cache.clearUnknown()
  }

  #safeRefresh (): void {
    this.refresh().catch((err: Error) => { this.log.warn({ err: err.message }, 'key cache refresh failed: serving cached keys') })
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    for (const off of this.#unsubscribe.splice(0)) off()
  }
}
