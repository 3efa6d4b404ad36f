import type { CacheStore } from './store.js'

interface Slot {
  value: Buffer
  expiresAt: number
  size: number
}

/** Bytes counted per entry besides its value: the key string and the Map slot, roughly. */
const SLOT_OVERHEAD = 160

/**
 * The embedded cache: an LRU bounded in bytes (`maxBytes`), in this process. A JS Map
 * keeps insertion order, so re-inserting on every hit makes its first key the least
 * recently used one; eviction pops from the front until the total fits:
 *
 *   Map: [oldest] k1 → k2 → … → kN [newest]      get(k2): delete + set → k2 moves to the end
 *
 * Expired entries are dropped when read or when they reach the front. `now` is
 * injectable for tests (epoch ms).
 * @example const store = memoryStore(256 * 1024 * 1024); await store.set(k, bytes, 60)
 */
export function memoryStore (maxBytes: number, now: () => number = () => Date.now()): CacheStore & { readonly bytes: number, readonly size: number } {
  const slots = new Map<string, Slot>()
  let bytes = 0

  const remove = (key: string, slot: Slot): void => {
    slots.delete(key)
    bytes -= slot.size
  }

  return {
    kind: 'memory',
    get bytes () { return bytes },
    get size () { return slots.size },
    async get (key) {
      const slot = slots.get(key)
      if (slot === undefined) return undefined
      if (slot.expiresAt <= now()) {
        remove(key, slot)
        return undefined
      }
      slots.delete(key)
      slots.set(key, slot)
      return slot.value
    },
    async set (key, value, ttlSeconds) {
      const old = slots.get(key)
      if (old !== undefined) remove(key, old)
      const size = value.length + key.length + SLOT_OVERHEAD
      if (size > maxBytes) return
      slots.set(key, { value, expiresAt: now() + ttlSeconds * 1000, size })
      bytes += size
      for (const [k, slot] of slots) {
        if (bytes <= maxBytes) break
        remove(k, slot)
      }
    }
  }
}
