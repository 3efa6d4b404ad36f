import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqlite } from '../../src/store/sqlite.js'
import { createSqliteOwnershipStore } from '../../src/ownership/sqlite-store.js'
import { ownershipStoreContract } from './store-contract.js'

ownershipStoreContract('SQLite ownership store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'comet-owned-'))
  const db = openSqlite(dir)
  const other = openSqlite(dir)
  return {
    store: createSqliteOwnershipStore(db),
    // A second process on the same file (two connections).
    second: async () => createSqliteOwnershipStore(other),
    close: async () => { db.close(); other.close(); rmSync(dir, { recursive: true, force: true }) }
  }
})
