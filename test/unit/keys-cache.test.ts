import { describe, expect, it } from 'vitest'
import { KeyCache } from '../../src/auth/key-cache.js'
import { buildRecord, generateSecret } from '../../src/auth/key-store.js'

const record = (name: string) => buildRecord({ name }, generateSecret())

describe('the key cache', () => {
  it('keeps keys in use and evicts the ones unused since the last sweep', () => {
    const cache = new KeyCache({ maxEntries: 3, negativeTtlMs: 1000, maxNegative: 10, now: () => 0 })
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(record)
    cache.set('ha', a!)
    cache.set('hb', b!)
    cache.set('hc', c!)
    expect(cache.get('ha')).toBe(a) // a is in use
    cache.set('hd', d!)
    expect(cache.size).toBe(3)
    expect(cache.get('hb')).toBeUndefined()
    expect(cache.get('ha')).toBe(a)
    expect(cache.has(b!.id)).toBe(false)
  })

  it('applies changes by id and drops a key whose record is gone', () => {
    const cache = new KeyCache({ maxEntries: 10, negativeTtlMs: 1000, maxNegative: 10, now: () => 0 })
    const a = record('a')
    cache.set('ha', a)
    cache.update(a.id, (r) => ({ ...r, rpm: 7 }))
    expect(cache.get('ha')?.rpm).toBe(7)
    cache.update(a.id, () => undefined)
    expect(cache.get('ha')).toBeUndefined()
    cache.update('key_unknown', () => { throw new Error('not called for keys not cached') })
  })

  it('remembers unknown keys for a while, and only so many', () => {
    let now = 0
    const cache = new KeyCache({ maxEntries: 10, negativeTtlMs: 1000, maxNegative: 2, now: () => now })
    cache.setUnknown('x')
    expect(cache.isUnknown('x')).toBe(true)
    now = 1001
    expect(cache.isUnknown('x')).toBe(false)
    cache.setUnknown('p')
    cache.setUnknown('q')
    cache.setUnknown('r')
    expect(cache.isUnknown('p')).toBe(false)
    expect(cache.isUnknown('r')).toBe(true)
    cache.set('r', record('r'))
    expect(cache.isUnknown('r')).toBe(false)
  })
})
