import type { KeyRecord } from './key-record.js'

export interface KeyCacheOptions {
  /** Key records kept (keys unused since the last sweep are evicted first beyond). */
  readonly maxEntries: number
  /** Milliseconds an unknown key stays known as unknown. */
  readonly negativeTtlMs: number
  /** Unknown keys remembered at most (oldest forgotten first). */
  readonly maxNegative: number
  readonly now: () => number
}

/**
 * `record` is what the hot path gets: the key's record, or for the old secret of a
 * rotated key a copy whose `expires_at` is the end of its grace period (`until`), so the
 * one `isKeyActive` check covers both.
 */
interface Entry { record: KeyRecord, until: string | undefined, used: boolean }

/** The record a secret stands for: an old secret expires when its grace period ends. */
function forSecret (record: KeyRecord, until: string | undefined): KeyRecord {
  if (until === undefined || (record.expires_at !== null && record.expires_at <= until)) return record
  return { ...record, expires_at: until }
}

/**
 * The in-process map of key records by secret hash, bounded, with a negative side for
 * unknown hashes. Eviction is CLOCK (second chance): a hit only sets `used`, which is
 * cheaper on the hot path than re-inserting into the Map as an LRU would.
 *
 *   entries   Map hash → { record, until, used }   oldest first (insertion order)
 *   hashById  Map id → hashes                      to apply a change announced by id
 *                                                  (two while a rotated key's old secret is in grace)
 *   negative  Map hash → expiry (ms)               unknown keys, oldest first
 */
export class KeyCache {
  readonly #entries = new Map<string, Entry>()
  readonly #hashById = new Map<string, string[]>()
  readonly #negative = new Map<string, number>()

  constructor (private readonly options: KeyCacheOptions) {}

  get size (): number { return this.#entries.size }

  /** The record of a hash, marking it used; undefined when not cached. */
  get (hash: string): KeyRecord | undefined {
    const entry = this.#entries.get(hash)
    if (entry === undefined) return undefined
    entry.used = true
    return entry.record
  }

  /** Caches a secret's record (`until`, ISO 8601, ends an old secret's grace period); answers what `get` will. */
  set (hash: string, record: KeyRecord, until?: string): KeyRecord {
    this.#negative.delete(hash)
    if (this.#entries.delete(hash)) this.#forget(record.id, hash)
    const entry = { record: forSecret(record, until), until, used: false }
    this.#entries.set(hash, entry)
    const hashes = this.#hashById.get(record.id)
    if (hashes === undefined) this.#hashById.set(record.id, [hash])
    else hashes.push(hash)
    while (this.#entries.size > this.options.maxEntries) this.#evictOne()
    return entry.record
  }

  #forget (id: string, hash: string): void {
    const hashes = this.#hashById.get(id)
    if (hashes === undefined) return
    const rest = hashes.filter((h) => h !== hash)
    if (rest.length === 0) this.#hashById.delete(id)
    else this.#hashById.set(id, rest)
  }

  #evictOne (): void {
    const [hash, entry] = this.#entries.entries().next().value as [string, Entry]
    this.#entries.delete(hash)
    if (entry.used) {
      // Second chance: used since the last sweep, so it goes to the young end instead.
      entry.used = false
      this.#entries.set(hash, entry)
    } else {
      this.#forget(entry.record.id, hash)
    }
  }

  /** Replaces the record of a cached key by id (no-op when it is not cached); undefined drops it. */
  update (id: string, change: (r: KeyRecord) => KeyRecord | undefined): void {
    const hashes = this.#hashById.get(id)
    if (hashes === undefined) return
    for (const hash of [...hashes]) {
      const entry = this.#entries.get(hash)
      if (entry === undefined) continue
      const next = change(entry.record)
      if (next !== undefined) {
        entry.record = forSecret(next, entry.until)
        continue
      }
      this.#entries.delete(hash)
      this.#forget(id, hash)
    }
  }

  /** Forgets every secret of a key (after a rotation: each is looked up again). */
  drop (id: string): void {
    for (const hash of this.#hashById.get(id) ?? []) this.#entries.delete(hash)
    this.#hashById.delete(id)
  }

  has (id: string): boolean {
    return this.#hashById.has(id)
  }

  /** Ids of every cached key (for a full reload). */
  ids (): string[] {
    return [...this.#hashById.keys()]
  }

  /** True while `hash` is remembered as unknown. */
  isUnknown (hash: string): boolean {
    const until = this.#negative.get(hash)
    if (until === undefined) return false
    if (until > this.options.now()) return true
    this.#negative.delete(hash)
    return false
  }

  setUnknown (hash: string): void {
    this.#negative.set(hash, this.options.now() + this.options.negativeTtlMs)
    if (this.#negative.size > this.options.maxNegative) this.#negative.delete(this.#negative.keys().next().value as string)
  }

  clearUnknown (): void {
    this.#negative.clear()
  }
}
