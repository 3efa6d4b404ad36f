import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import pino from 'pino'
import { bearerToken } from '../../src/auth/authenticate.js'
import { createCachedKeyResolver } from '../../src/auth/cached-resolver.js'
import { hashKey } from '../../src/auth/key-record.js'
import { createSqliteKeyStore } from '../../src/auth/sqlite-key-store.js'
import { staticKeyRecords } from '../../src/auth/static-keys.js'
import { openSqlite } from '../../src/store/sqlite.js'
import { group } from './harness.js'

/**
 * The key lookup of every request: parse the bearer token, SHA-256 it, find the record
 * (config-file key, then the in-process cache of stored keys). The store is not on the
 * hot path once a key is cached, so only cached lookups are timed.
 */
export async function authBench (timeMs?: number): Promise<string> {
  const staticSecret = 'sk-bench-0123456789abcdefghijklmnopqrstuvwxyzABCD'
  const store = createSqliteKeyStore(openSqlite(mkdtempSync(join(tmpdir(), 'comet-micro-auth-'))))
  const { secret } = await store.create({ name: 'stored' } as Parameters<typeof store.create>[0])
  const resolver = createCachedKeyResolver(store, staticKeyRecords([{ name: 'bench', key: staticSecret }]), pino({ level: 'silent' }))
  await resolver.resolve(secret) // load it into the cache
  const header = `Bearer ${secret}`
  const out = group('Key lookup', [
    { name: 'bearerToken', fn: () => bearerToken(header) },
    { name: 'before: createHash(sha256).update().digest(hex)', fn: () => createHash('sha256').update(secret).digest('hex') },
    { name: 'hashKey: one-shot crypto.hash (SHA-256 hex)', fn: () => hashKey(secret) },
    { name: 'resolve: config-file key', fn: () => resolver.resolve(staticSecret) },
    { name: 'resolve: stored key, cached', fn: () => resolver.resolve(secret) }
  ], timeMs)
  await resolver.close()
  await store.close()
  return out
}
