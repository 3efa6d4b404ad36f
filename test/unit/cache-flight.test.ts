import { describe, expect, it } from 'vitest'
import { Flight } from '../../src/cache/flight.js'

async function collect (it: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = []
  for await (const c of it) parts.push(c)
  return Buffer.concat(parts).toString()
}

describe('coalescing flight', () => {
  it('gives a late follower the chunks so far, then the live ones, then the usage', async () => {
    const f = new Flight()
    const joined = f.join()
    f.start({ kind: 'stream', status: 200, headers: {} })
    expect((await joined).kind).toBe('stream')
    f.push(Buffer.from('a'))
    f.push(Buffer.from('b'))
    let usage: unknown
    const done = collect(f.follow((u) => { usage = u }))
    await new Promise((resolve) => setImmediate(resolve))
    f.push(Buffer.from('c'))
    const u = { model: 'm', inputTokens: 1, cachedInputTokens: 0, outputTokens: 1, reasoningTokens: 0, costNanos: 5, estimated: false, priced: true }
    f.end(true, u)
    expect(await done).toBe('abc')
    expect(usage).toEqual(u)
  })

  it('breaks the followers of a stream that did not complete, after the bytes it had', async () => {
    const f = new Flight()
    f.start({ kind: 'stream', status: 200, headers: {} })
    f.push(Buffer.from('partial'))
    const parts: string[] = []
    const run = (async () => { for await (const c of f.follow(() => {})) parts.push(c.toString()) })()
    f.end(false, undefined)
    await expect(run).rejects.toThrow(/broke/)
    expect(parts.join('')).toBe('partial')
  })

  it('tells waiters to go upstream themselves when the leader ends without an answer', async () => {
    const f = new Flight()
    const joined = f.join()
    f.end(false, undefined)
    expect(await joined).toEqual({ kind: 'failed' })
    expect(f.waiters).toBe(1)
  })
})
