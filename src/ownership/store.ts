import { z } from 'zod'
import type { TokenUsage } from '../metering/usage.js'
import { COLLECTIONS } from './collections.js'

/** Who made an object through the gateway, and when. */
export const ownedObjectSchema = z.object({
  id: z.string().min(1),
  collection: z.enum(COLLECTIONS),
  ownerKeyId: z.string().min(1),
  /** The key's name when it made the object (batches are billed under it). */
  ownerKeyName: z.string(),
  /** The key's team then: its other keys share the object. */
  ownerTeamId: z.string().nullable(),
  /** The batch or fine-tuning job whose results a file holds. */
  parentId: z.string().nullable(),
  /** Epoch milliseconds. */
  createdAt: z.number().int().nonnegative()
})

export type OwnedObject = z.infer<typeof ownedObjectSchema>

/** Ids one lookup may ask for (a files list page holds up to 10,000). */
export const MAX_LOOKUP = 10_000

/** Rows one owner listing returns at most. */
export const MAX_LIST = 1000

export interface OwnerQuery {
  /** The key's own objects, or (with teamId) its team's too. */
  readonly keyId: string
  readonly teamId?: string | null
  readonly collection?: OwnedObject['collection']
  /** At most MAX_LIST. */
  readonly limit: number
  /** Only objects created strictly before this (epoch ms): the next page. */
  readonly before?: number
}

/**
 * Where the owner of every object made through the gateway is kept: SQLite (embedded) or
 * Redis (single node or Cluster), chosen once at start-up.
 *
 * Contract, for every implementation:
 * - `record` stores objects; an id recorded before keeps its first owner (nobody can
 *   take over an object by making the gateway see its id again). Durable on return.
 * - `lookup` answers up to MAX_LOOKUP ids in one round trip (indexed by id); ids never
 *   recorded are absent from the map. More ids throw a RangeError.
 * - `listByOwner` returns a key's (and optionally its team's) objects, newest first.
 * - `remove` forgets an object (it was deleted upstream).
 * - `prune` forgets up to `limit` objects of a collection created before `before` (epoch
 *   ms), oldest first, and says how many: for objects the upstream itself expires.
 * - `raiseBilled` keeps, per batch, the highest usage billed so far and returns the rise
 *   from it to `seen` per token class (zeros when nothing rose). Atomic across
 *   instances: concurrent reads of the same results charge the rise once in total.
 * - Store failures (Redis down) reject with the driver's error; the request path answers
 *   503 rather than relay an unchecked request (ownership fails closed).
 */
export interface OwnershipStore {
  readonly kind: 'sqlite' | 'redis'
  record (objects: readonly OwnedObject[]): Promise<void>
  lookup (ids: readonly string[]): Promise<Map<string, OwnedObject>>
  listByOwner (query: OwnerQuery): Promise<OwnedObject[]>
  remove (id: string): Promise<void>
  prune (collection: OwnedObject['collection'], before: number, limit: number): Promise<number>
  raiseBilled (batchId: string, seen: TokenUsage): Promise<TokenUsage>
  ready (): Promise<boolean>
  close (): Promise<void>
}

/** True when the principal (a key and its team) may reach the object. */
export function owns (object: OwnedObject, keyId: string, teamId: string | null): boolean {
  return object.ownerKeyId === keyId || (teamId !== null && object.ownerTeamId === teamId)
}

export function checkLookupSize (ids: readonly string[]): void {
  if (ids.length > MAX_LOOKUP) throw new RangeError(`at most ${MAX_LOOKUP} ids per lookup, got ${ids.length}`)
}
