import { describe, expect, it } from 'vitest'
import { configFrom } from '../../src/config/load.js'
import { ADMIN_KEY } from '../helpers/gateway.js'
import { ensureBuilt, spawnNode } from '../helpers/process.js'

/** ADMIN_KEY guards every key and the spend data: placeholders and short values never start. */
describe('ADMIN_KEY validation', () => {
  const refused = (key: string): string => {
    try {
      configFrom({ ADMIN_KEY: key })
    } catch (err) {
      return (err as Error).message
    }
    return 'accepted'
  }

  it('refuses the placeholders people leave in deploy files, whatever their case or punctuation', () => {
    for (const key of ['change-me', 'changeme', 'CHANGE_ME', 'replace-me', 'REPLACE_WITH_ADMIN_KEY', 'admin', 'password', 'secret',
      'change-me-change-me-change-me', 'please-replace-me-before-use!!', 'your-admin-key-goes-here-ok', 'adminadminadminadminadmin1', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'password1234567890123456789']) {
      const message = refused(key)
      expect(message, key).toMatch(/^ADMIN_KEY: /)
      expect(message, key).not.toContain('\n')
      // The message never echoes the value.
      expect(message.replace('ADMIN_KEY', '').toLowerCase(), key).not.toContain(key.toLowerCase())
    }
  })

  it('refuses keys under 24 characters and accepts random ones of 24 and more', () => {
    expect(refused('a1b2c3d4e5f6a7b8c9d0e1f')).toMatch(/^ADMIN_KEY: must be at least 24/)
    for (const key of ['a1b2c3d4e5f6a7b8c9d0e1f2', '7d7e8ce12daa5223497de9e919bbdeb0f803073eacc83501', ADMIN_KEY]) {
      expect(refused(key), key).toBe('accepted')
    }
  })

  it('stops the process with exit 1 and one line naming ADMIN_KEY', async () => {
    ensureBuilt()
    const p = spawnNode('dist/src/main.js', { ADMIN_KEY: 'change-me-change-me-change-me', PORT: '0' })
    expect(await p.exited).toBe(1)
    const err = p.stderr.join('').trim().split('\n')
    expect(err).toHaveLength(1)
    expect(err[0]).toMatch(/ADMIN_KEY: is a placeholder/)
  })
})
