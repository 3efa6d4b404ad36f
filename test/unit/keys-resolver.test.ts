import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createCachedKeyResolver, type CachedKeyResolver } from '../../src/auth/cached-resolver.js'
import { hashKey, type KeyRecord } from '../../src/auth/key-record.js'
import type { KeyStore } from '../../src/auth/key-store.js'
import { createSqliteKeyStore } from '../../src/auth/sqlite-key-store.js'
import { staticKeyRecords } from '../../src/auth/static-keys.js'
import { createLogger } from '../../src/log.js'
import { openSqlite, type SqliteDb } from '../../src/store/sqlite.js'
import { removeDir } from '../helpers/redis.js'
import { tempDataDir } from '../helpers/gateway.js'

/** The real SQLite store, counting how often the resolver reaches it. */
function counting (store: KeyStore): KeyStore & { lookups: number, lists: number } {
  const counted = {
    kind: store.kind,
    create: (input: Parameters<KeyStore['create']>[0]) => store.create(input),
    get: (id: string) => store.get(id),
    update: (id: string, patch: Parameters<KeyStore['update']>[1]) => store.update(id, patch),
    revoke: (id: string) => store.revoke(id),
    rotate: (id: string, grace: number) => store.rotate(id, grace),
    onChange: (listener: Parameters<KeyStore['onChange']>[0]) => store.onChange(listener),
    ready: () => store.ready(),
    close: () => store.close(),
    lookups: 0,
    lists: 0,
    findByHash: async (hash: string) => { counted.lookups++; return await store.findByHash(hash) },
    list: async () => { counted.lists++; return await store.list() }
  }
  return counted
}

const log = createLogger('silent')

describe('the cached key resolver', () => {
  let dir: string
  let db: SqliteDb
  let store: ReturnType<typeof counting>
  let resolver: CachedKeyResolver
  let clock: number
  const make = (options = {}): CachedKeyResolver =>
    createCachedKeyResolver(store, staticKeyRecords([{ name: 'ci', key: 'static-secret-123' }]), log, { now: () => clock, ...options })

  beforeEach(() => {
    dir = tempDataDir()
    db = openSqlite(dir)
    store = counting(createSqliteKeyStore(db))
    clock = 1_000_000
  })
  afterEach(async () => {
    await resolver.close()
    db.close()
    removeDir(dir)
  })

  it('answers a known key from memory after the first lookup', async () => {
    resolver = make()
    const { record, secret } = await store.create({ name: 'alice' })
    expect((await resolver.resolve(secret))?.id).toBe(record.id)
    for (let i = 0; i < 1000; i++) expect((resolver.resolve(secret) as KeyRecord).id).toBe(record.id)
    expect(store.lookups).toBe(1)
  })

  it('resolves config-file keys without the store', async () => {
    resolver = make()
    expect((resolver.resolve('static-secret-123') as KeyRecord).name).toBe('ci')
    expect(store.lookups).toBe(0)
  })

  it('keeps junk and repeated unknown keys away from the store', async () => {
    resolver = make({ negativeTtlMs: 2000 })
    for (let i = 0; i < 100; i++) expect(await resolver.resolve(`Bearer-junk-${i}`)).toBeUndefined()
    expect(store.lookups).toBe(0)
    const unknown = 'sk-' + 'u'.repeat(43)
    await Promise.all(Array.from({ length: 50 }, () => resolver.resolve(unknown)))
    for (let i = 0; i < 50; i++) expect(await resolver.resolve(unknown)).toBeUndefined()
    expect(store.lookups).toBe(1)
    clock += 2001
    expect(await resolver.resolve(unknown)).toBeUndefined()
    expect(store.lookups).toBe(2)
  })

  it('checks at most maxPendingLookups new keys at a time', async () => {
    resolver = make({ maxPendingLookups: 2 })
    const tries = ['a', 'b', 'c', 'd'].map((c) => resolver.resolve('sk-' + c.repeat(43)))
    const results = await Promise.allSettled(tries)
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected'])
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ status: 503, openaiCode: 'store_unavailable' })
    expect(store.lookups).toBe(2)
    // Once those finished, new keys are checked again.
    expect(await resolver.resolve('sk-' + 'e'.repeat(43))).toBeUndefined()
    expect(store.lookups).toBe(3)
  })

  it('forgets that a key was unknown as soon as a key is created', async () => {
    resolver = make({ negativeTtlMs: 60_000 })
    const secret = 'sk-' + 'e'.repeat(43)
    expect(await resolver.resolve(secret)).toBeUndefined()
    // The row appears (e.g. written by another instance) and a creation is announced.
    db.prepare("INSERT INTO keys (id, name, key_hash, key_prefix, created_at) VALUES ('key_e', 'early', ?, 'sk-eeeee', ?)").run(hashKey(secret), new Date().toISOString())
    expect(await resolver.resolve(secret)).toBeUndefined()
    await store.create({ name: 'another' })
    expect((await resolver.resolve(secret))?.name).toBe('early')
  })

  it('sees a revocation at once and an update after its reload', async () => {
    resolver = make()
    const { record, secret } = await store.create({ name: 'bob', rpm: 10 })
    await resolver.resolve(secret)
    await store.revoke(record.id)
    expect((resolver.resolve(secret) as KeyRecord).revoked_at).not.toBeNull()

    const other = await store.create({ name: 'carol', rpm: 10 })
    await resolver.resolve(other.secret)
    await store.update(other.record.id, { rpm: 99 })
    await expect.poll(() => (resolver.resolve(other.secret) as KeyRecord).rpm).toBe(99)
  })

  it('stays bounded and still answers evicted keys from the store', async () => {
    resolver = make({ maxEntries: 2 })
    const keys = await Promise.all(['k1', 'k2', 'k3'].map((name) => store.create({ name })))
    for (const k of keys) await resolver.resolve(k.secret)
    expect(store.lookups).toBe(3)
    expect(resolver.resolve(keys[2]!.secret)).not.toBeInstanceOf(Promise)
    expect((await resolver.resolve(keys[0]!.secret))?.name).toBe('k1')
    expect(store.lookups).toBe(4)
  })

  it('picks up changes it was not told about at the periodic refresh', async () => {
    resolver = make()
    const { record, secret } = await store.create({ name: 'dan' })
    await resolver.resolve(secret)
    // Another process sharing the SQLite file: no in-process announcement.
    db.prepare('UPDATE keys SET revoked_at = ? WHERE id = ?').run(new Date().toISOString(), record.id)
    expect((resolver.resolve(secret) as KeyRecord).revoked_at).toBeNull()
    await resolver.refresh()
    expect((resolver.resolve(secret) as KeyRecord).revoked_at).not.toBeNull()
    expect(store.lists).toBe(1)
  })
})
