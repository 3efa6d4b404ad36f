import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { prune } from '../../src/ownership/feature.js'
import { createSqliteOwnershipStore } from '../../src/ownership/sqlite-store.js'
import { openSqlite } from '../../src/store/sqlite.js'

const DAY = 86_400_000

it('expired responses and chat completions are forgotten; files are kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'comet-prune-'))
  const db = openSqlite(dir)
  try {
    const store = createSqliteOwnershipStore(db)
    const now = Date.now()
    const o = (id: string, collection: 'responses' | 'chat_completions' | 'files', ageDays: number) =>
      ({ id, collection, ownerKeyId: 'key_a', ownerKeyName: 'a', ownerTeamId: null, parentId: null, createdAt: now - ageDays * DAY })
    await store.record([o('resp_old', 'responses', 40), o('resp_new', 'responses', 5), o('chatcmpl-old', 'chat_completions', 32), o('file-old', 'files', 400)])
    expect(await prune(store, now)).toBe(2)
    expect([...(await store.lookup(['resp_old', 'resp_new', 'chatcmpl-old', 'file-old'])).keys()].sort()).toEqual(['file-old', 'resp_new'])
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
