import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_LOOKUP, type OwnedObject, type OwnershipStore } from '../../src/ownership/store.js'

let seq = 0
export function owned (over: Partial<OwnedObject> = {}): OwnedObject {
  seq++
  return { id: `file-${seq}-${Math.random().toString(36).slice(2)}`, collection: 'files', ownerKeyId: 'key_a', ownerKeyName: 'alice', ownerTeamId: null, parentId: null, createdAt: 1_700_000_000_000 + seq, ...over }
}

/** The OwnershipStore contract, run against each implementation. */
export function ownershipStoreContract (name: string, open: () => Promise<{ store: OwnershipStore, second: () => Promise<OwnershipStore>, close: () => Promise<void> }>): void {
  describe(name, () => {
    let store: OwnershipStore
    let second: () => Promise<OwnershipStore>
    let close: () => Promise<void>
    beforeAll(async () => { ({ store, second, close } = await open()) })
    afterAll(async () => { await close() })

    it('records and looks up by id; unknown ids are absent', async () => {
      const a = owned({ ownerTeamId: 'team_1' })
      const b = owned({ collection: 'batches', id: 'batch_x' + seq })
      await store.record([a, b])
      const found = await store.lookup([a.id, b.id, 'file-never', a.id])
      expect(found.size).toBe(2)
      expect(found.get(a.id)).toEqual(a)
      expect(found.get(b.id)).toEqual(b)
      expect((await store.lookup([])).size).toBe(0)
      expect(await store.ready()).toBe(true)
    })

    it('the first owner keeps an object', async () => {
      const a = owned()
      await store.record([a])
      await store.record([{ ...a, ownerKeyId: 'key_b', ownerKeyName: 'bob' }])
      expect((await store.lookup([a.id])).get(a.id)?.ownerKeyId).toBe('key_a')
    })

    it('lookups are bounded and answer large pages in one call', async () => {
      const many = Array.from({ length: 1200 }, () => owned({ ownerKeyId: 'key_many' }))
      await store.record(many)
      const ids = many.map((o) => o.id)
      const found = await store.lookup([...ids, ...Array.from({ length: 300 }, (_, i) => 'nope-' + i)])
      expect(found.size).toBe(1200)
      await expect(store.lookup(Array.from({ length: MAX_LOOKUP + 1 }, (_, i) => 'x' + i))).rejects.toThrow(RangeError)
    })

    it('lists by owner (and team), newest first, by collection, paged by time', async () => {
      const k = 'key_list_' + seq
      const t = 'team_list_' + seq
      const mine = [owned({ ownerKeyId: k, createdAt: 10 }), owned({ ownerKeyId: k, createdAt: 20, collection: 'batches' }), owned({ ownerKeyId: k, createdAt: 30 })]
      const team = owned({ ownerKeyId: 'key_other', ownerTeamId: t, createdAt: 25 })
      await store.record([...mine, team, owned({ ownerKeyId: 'key_stranger', createdAt: 40 })])
      expect((await store.listByOwner({ keyId: k, limit: 10 })).map((o) => o.createdAt)).toEqual([30, 20, 10])
      expect((await store.listByOwner({ keyId: k, teamId: t, limit: 10 })).map((o) => o.createdAt)).toEqual([30, 25, 20, 10])
      expect((await store.listByOwner({ keyId: k, collection: 'batches', limit: 10 })).map((o) => o.createdAt)).toEqual([20])
      expect((await store.listByOwner({ keyId: k, limit: 1, before: 30 })).map((o) => o.createdAt)).toEqual([20])
    })

    it('remove forgets an object and its index entries', async () => {
      const k = 'key_rm_' + seq
      const a = owned({ ownerKeyId: k, ownerTeamId: 'team_rm' })
      await store.record([a])
      await store.remove(a.id)
      await store.remove('file-never')
      expect((await store.lookup([a.id])).size).toBe(0)
      expect(await store.listByOwner({ keyId: k, teamId: 'team_rm', limit: 10 })).toEqual([])
    })

    it('prune forgets a collection\'s oldest objects, up to a limit', async () => {
      const old = [owned({ collection: 'responses', createdAt: 1 }), owned({ collection: 'responses', createdAt: 2 }), owned({ collection: 'responses', createdAt: 3 })]
      const kept = [owned({ collection: 'responses', createdAt: 2_000_000_000_000 }), owned({ collection: 'files', createdAt: 1 })]
      await store.record([...old, ...kept])
      expect(await store.prune('responses', 1_000_000_000_000, 2)).toBe(2)
      expect([...(await store.lookup(old.map((o) => o.id))).keys()]).toEqual([old[2]!.id])
      expect(await store.prune('responses', 1_000_000_000_000, 10)).toBe(1)
      expect((await store.lookup(kept.map((o) => o.id))).size).toBe(2)
    })

    it('raiseBilled charges only the rise, once in total, under concurrency and across instances', async () => {
      const batch = 'batch_bill_' + seq
      const total = { input: 1000, cached: 100, output: 500, reasoning: 50 }
      expect(await store.raiseBilled(batch, { input: 400, cached: 0, output: 500, reasoning: 0 })).toEqual({ input: 400, cached: 0, output: 500, reasoning: 0 })
      const others = await second()
      const rises = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : others).raiseBilled(batch, total)))
      const sum = rises.reduce((s, r) => ({ input: s.input + r.input, cached: s.cached + r.cached, output: s.output + r.output, reasoning: s.reasoning + r.reasoning }), { input: 0, cached: 0, output: 0, reasoning: 0 })
      expect(sum).toEqual({ input: 600, cached: 100, output: 0, reasoning: 50 })
      expect(await store.raiseBilled(batch, total)).toEqual({ input: 0, cached: 0, output: 0, reasoning: 0 })
    })

    it('another instance sees what one recorded', async () => {
      const other = await second()
      const a = owned()
      await store.record([a])
      expect((await other.lookup([a.id])).get(a.id)).toEqual(a)
    })
  })
}
