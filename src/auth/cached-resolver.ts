import type { Logger } from 'pino'
import { hashKey, type KeyRecord, type KeyResolver } from './key-record.js'
import { STORED_SECRET, type KeyChange, type KeyStore } from './key-store.js'

export interface CachedResolverOptions {
  /** Key records kept in process (keys unused since the last sweep evicted beyond). */
  readonly maxEntries?: number
  /** Milliseconds an unknown key is answered "unknown" without asking the store. */
  readonly negativeTtlMs?: number
  /** Unknown keys remembered at most (oldest forgotten first). */
  readonly maxNegative?: number
  /** Milliseconds between full reloads: the safety net for a lost change message. */
  readonly refreshMs?: number
  readonly now?: () => number
}

interface Entry { record: KeyRecord, used: boolean }

export interface CachedKeyResolver extends KeyResolver {
  /** Reloads every cached record from the store now (also runs every `refreshMs`). */
  refresh (): Promise<void>
  close (): Promise<void>
}

/**
 * The hot-path key lookup. Per request it hashes the secret (SHA-256, ~1 µs) and reads
 * maps; the store is asked only on a miss, once per secret at a time.
 *
 *   secret ─sha256─▶ static keys (config file) ─▶ cache (CLOCK, hash → record) ─▶ negative cache
 *                                                     ▲                              │ miss
 *          store.onChange (pub/sub) ── reload/mark ───┘          store.findByHash ◀──┘
 *
 * - Bounded: beyond `maxEntries`, keys not used since the last sweep are evicted first.
 * - A change (any instance) reloads that key's record; a revocation marks it revoked at
 *   once, before the reload. A creation clears the negative cache, so a key tried before
 *   it existed works as soon as it is announced.
 * - Secrets that cannot be stored keys (not `sk-` + 43 URL-safe characters) never reach
 *   the store: a flood of junk keys costs a regex test each.
 * - While the store is unreachable, cached keys keep working; a key not in cache gets the
 *   store's error (503), never a wrong 401.
 * @example const resolver = createCachedKeyResolver(store, staticKeyRecords(config.keys), log)
 */
export function createCachedKeyResolver (store: KeyStore, statics: ReadonlyMap<string, KeyRecord>, log: Logger, options: CachedResolverOptions = {}): CachedKeyResolver {
  const maxEntries = options.maxEntries ?? 10_000
  const negativeTtlMs = options.negativeTtlMs ?? 2_000
  const maxNegative = options.maxNegative ?? 10_000
  const now = options.now ?? Date.now
  // CLOCK eviction (second chance): a hit only sets `used`, cheaper than re-inserting into the Map for LRU.
  const cache = new Map<string, Entry>()
  const hashById = new Map<string, string>()
  const negative = new Map<string, number>()
  const inflight = new Map<string, Promise<KeyRecord | undefined>>()
  // Bumped by every change: a lookup that started before a change must not cache its answer.
  let generation = 0

  const remember = (hash: string, record: KeyRecord): void => {
    cache.delete(hash)
    cache.set(hash, { record, used: false })
    hashById.set(record.id, hash)
    while (cache.size > maxEntries) {
      const [oldest, old] = cache.entries().next().value as [string, Entry]
      cache.delete(oldest)
      if (old.used) {
        old.used = false
        cache.set(oldest, old)
      } else {
        hashById.delete(old.record.id)
      }
    }
  }
  const forget = (hash: string): void => {
    negative.set(hash, now() + negativeTtlMs)
    if (negative.size > maxNegative) negative.delete(negative.keys().next().value as string)
  }

  const load = async (hash: string): Promise<KeyRecord | undefined> => {
    for (;;) {
      const started = generation
      const record = await store.findByHash(hash)
      if (started !== generation) continue
      if (record === undefined) forget(hash)
      else remember(hash, record)
      return record
    }
  }

  const reload = async (id: string, hash: string): Promise<void> => {
    try {
      const record = await store.get(id)
      const entry = cache.get(hash)
      if (record === undefined) cache.delete(hash)
      else if (entry !== undefined) entry.record = record
    } catch (err) {
      // Unknown state: ask the store again at the next request rather than trust stale limits.
      cache.delete(hash)
      log.warn({ err: (err as Error).message, id }, 'key reload failed')
    }
  }

  const onChange = (change: KeyChange): void => {
    generation++
    if (change.kind === 'created') { negative.clear(); return }
    const hash = hashById.get(change.id)
    const cached = hash === undefined ? undefined : cache.get(hash)
    if (hash === undefined || cached === undefined) return
    if (change.kind === 'revoked' && cached.record.revoked_at === null) cached.record = { ...cached.record, revoked_at: new Date(now()).toISOString() }
    reload(change.id, hash).catch(() => {})
  }

  const refresh = async (): Promise<void> => {
    const started = generation
    const byId = new Map((await store.list()).map((r) => [r.id, r]))
    if (started !== generation) return
    for (const [hash, entry] of cache) {
      const fresh = byId.get(entry.record.id)
      if (fresh === undefined) {
        cache.delete(hash)
        hashById.delete(entry.record.id)
      } else {
        entry.record = fresh
      }
    }
    negative.clear()
  }
  const safeRefresh = (): void => {
    refresh().catch((err: Error) => { log.warn({ err: err.message }, 'key cache refresh failed: serving cached keys') })
  }

  const unsubscribe = store.onChange(onChange)
  const unsubscribeResync = store.onResync?.(safeRefresh)
  const timer = setInterval(safeRefresh, options.refreshMs ?? 30_000)
  timer.unref()
  let closed = false

  return {
    resolve (secret: string) {
      const hash = hashKey(secret)
      const fixed = statics.get(hash)
      if (fixed !== undefined) return fixed
      const hit = cache.get(hash)
      if (hit !== undefined) {
        hit.used = true
        return hit.record
      }
      if (!STORED_SECRET.test(secret)) return undefined
      const until = negative.get(hash)
      if (until !== undefined) {
        if (until > now()) return undefined
        negative.delete(hash)
      }
      let pending = inflight.get(hash)
      if (pending === undefined) {
        pending = load(hash).finally(() => inflight.delete(hash))
        inflight.set(hash, pending)
      }
      return pending
    },
    refresh,
    async close () {
      if (closed) return
      closed = true
      clearInterval(timer)
      unsubscribe()
      unsubscribeResync?.()
    }
  }
}
