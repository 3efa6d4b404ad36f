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

interface Entry { record: KeyRecord, used: boolean }

/**
 * The in-process map of key records by secret hash, bounded, with a negative side for
 * unknown hashes. Eviction is CLOCK (second chance): a hit only sets `used`, which is
 * cheaper on the hot path than re-inserting into the Map as an LRU would.
 *
 *   entries   Map hash → { record, used }   oldest first (insertion order)
 *   hashById  Map id → hash                 to apply a change announced by id
 *   negative  Map hash → expiry (ms)        unknown keys, oldest first
 */
export class KeyCache {
  readonly #entries = new Map<string, Entry>()
  readonly #hashById = new Map<string, string>()
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

  set (hash: string, record: KeyRecord): void {
    this.#negative.delete(hash)
    this.#entries.delete(hash)
    this.#entries.set(hash, { record, used: false })
    this.#hashById.set(record.id, hash)
    while (this.#entries.size > this.options.maxEntries) this.#evictOne()
  }

  #evictOne (): void {
    const [hash, entry] = this.#entries.entries().next().value as [string, Entry]
    this.#entries.delete(hash)
    if (entry.used) {
      // Second chance: used since the last sweep, so it goes to the young end instead.
      entry.used = false
      this.#entries.set(hash, entry)
    } else {
      this.#hashById.delete(entry.record.id)
    }
  }

  /** Replaces the record of a cached key by id (no-op when it is not cached); undefined drops it. */
  update (id: string, change: (r: KeyRecord) => KeyRecord | undefined): void {
    const hash = this.#hashById.get(id)
    const entry = hash === undefined ? undefined : this.#entries.get(hash)
    if (hash === undefined || entry === undefined) return
    const next = change(entry.record)
    if (next !== undefined) {
      entry.record = next
      return
    }
    this.#entries.delete(hash)
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
