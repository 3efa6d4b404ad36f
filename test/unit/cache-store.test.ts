import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { decodeEntry, encodeEntry, type CacheEntry } from '../../src/cache/entry.js'
import { memoryStore } from '../../src/cache/memory-store.js'

const usage = { model: 'm', inputTokens: 10, cachedInputTokens: 2, outputTokens: 5, reasoningTokens: 1, costNanos: 1234, estimated: false, priced: true }
const entry = (body: Buffer): CacheEntry => ({ kind: 'stream', status: 200, headers: { 'content-type': 'text/event-stream' }, storedAt: 1_000, ttl: 60, usage, body })

describe('cache entry encoding', () => {
  it('round-trips small entries raw and large ones deflated when that pays', async () => {
    const small = Buffer.from('data: {"x":1}\n\n')
    const encodedSmall = await encodeEntry(entry(small), true)
    expect(await decodeEntry(encodedSmall)).toEqual(entry(small))

    const big = Buffer.from('data: {"choices":[{"delta":{"content":"token"}}]}\n\n'.repeat(2000))
    const encodedBig = await encodeEntry(entry(big), true)
    expect(encodedBig.length).toBeLessThan(big.length / 4)
    const back = await decodeEntry(encodedBig)
    expect(back?.body.equals(big)).toBe(true)
    expect(back?.usage).toEqual(usage)

    const raw = await encodeEntry(entry(big), false)
    expect(raw.length).toBeGreaterThan(big.length)
  })

  it('keeps incompressible bodies raw', async () => {
    const noise = randomBytes(8192)
    const encoded = await encodeEntry(entry(noise), true)
    expect(encoded.length).toBeGreaterThan(noise.length)
    expect((await decodeEntry(encoded))?.body.equals(noise)).toBe(true)
  })

  it('reads foreign or corrupt bytes as no entry', async () => {
    expect(await decodeEntry(Buffer.from('hello'))).toBeUndefined()
    const good = await encodeEntry(entry(Buffer.from('x')), false)
    expect(await decodeEntry(good.subarray(0, 8))).toBeUndefined()
  })
})

describe('memory store', () => {
  it('expires entries after their TTL (injected clock)', async () => {
    let now = 0
    const store = memoryStore(1 << 20, () => now)
    await store.set('k', Buffer.from('v'), 60)
    now = 59_999
    expect((await store.get('k'))?.toString()).toBe('v')
    now = 60_000
    expect(await store.get('k')).toBeUndefined()
    expect(store.size).toBe(0)
  })

  it('stays within its byte bound by evicting the least recently used entries', async () => {
    const store = memoryStore(3 * 1200)
    const value = Buffer.alloc(1000)
    await store.set('a', value, 60)
    await store.set('b', value, 60)
    await store.set('c', value, 60)
    await store.get('a') // a is now the most recently used
    await store.set('d', value, 60)
    expect(store.bytes).toBeLessThanOrEqual(3 * 1200)
    expect(await store.get('b')).toBeUndefined()
    expect(await store.get('a')).toBeDefined()
    expect(await store.get('d')).toBeDefined()
  })

  it('does not keep a value larger than the whole bound, and replaces on set', async () => {
    const store = memoryStore(500)
    await store.set('big', Buffer.alloc(1000), 60)
    expect(await store.get('big')).toBeUndefined()
    await store.set('k', Buffer.from('1'), 60)
    await store.set('k', Buffer.from('2'), 60)
    expect((await store.get('k'))?.toString()).toBe('2')
    expect(store.size).toBe(1)
  })
})
