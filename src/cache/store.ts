/**
 * Where cached answers live: an in-process LRU (embedded mode) or Redis / Redis Cluster.
 * Values are opaque encoded entries (see entry.ts); keys are cache keys (cache-key.ts).
 *
 * Contract:
 * - `get` resolves the stored bytes, or undefined when there is no live entry (never
 *   stored, expired or evicted). It rejects when the backend cannot answer (Redis down,
 *   timeout). The caller treats a rejection as a miss: a cache failure never fails a request.
 * - `set` stores the bytes for `ttlSeconds` (> 0), replacing any entry under the key;
 *   it resolves once stored and rejects when the backend cannot store. The store may evict
 *   it early (memory bound), so a `get` after `set` may still miss.
 * - Neither method blocks on a disconnected backend: they fail fast (no offline queue).
 */
export interface CacheStore {
  /** `memory` or `redis`: logs and the choice to compress. */
  readonly kind: 'memory' | 'redis'
  get (key: string): Promise<Buffer | undefined>
  set (key: string, value: Buffer, ttlSeconds: number): Promise<void>
}
