import { describe, expect, it } from 'vitest'
import { HOLD_LIMIT_BYTES, SseScanner, sseData, type SseHold } from '../../src/proxy/sse-scanner.js'
import { usageChunkHold } from '../../src/metering/usage-chunk.js'

/** Feeds `bytes` in `size`-byte chunks; returns what the client got. */
function feed (scanner: SseScanner, bytes: Buffer, size: number): Buffer {
  const out: Buffer[] = []
  const write = (b: Buffer): void => { out.push(b) }
  for (let at = 0; at < bytes.length; at += size) scanner.push(bytes.subarray(at, at + size), write)
  scanner.end(write)
  return Buffer.concat(out)
}

const first = 'data: {"a":1}\n\n'

describe('SseScanner: an event larger than maxEventBytes', () => {
  for (const strip of [false, true]) {
    const mode = strip ? 'strip mode' : 'pass-through'
    it(`${mode}: an event without end stops the scan at the bound, and nothing more is written`, () => {
      const scanner = new SseScanner(strip ? usageChunkHold : undefined, true, 100)
      const bytes = Buffer.from(first + 'data: {"choices":[{"delta":{"content":"' + 'x'.repeat(500))
      const out = feed(scanner, bytes, 30)
      expect(scanner.overflowed).toBe(true)
      expect(out.toString().startsWith(first)).toBe(true)
      // What went out of the big event came before the chunk that crossed the bound.
      expect(out.length).toBeLessThanOrEqual(first.length + 100)
      expect(sseData(scanner.lastEvent!)).toBe('{"a":1}')
      const more: Buffer[] = []
      scanner.push(Buffer.from('"}}]}\n\ndata: {"b":2}\n\n'), (b) => more.push(b))
      scanner.end((b) => more.push(b))
      expect(more).toEqual([])
    })

    it(`${mode}: an event that ends inside one chunk but is too large is not written at all`, () => {
      const scanner = new SseScanner(strip ? usageChunkHold : undefined, true, 100)
      const bytes = Buffer.from(first + `data: {"x":"${'y'.repeat(200)}"}\n\n` + 'data: {"b":2}\n\n')
      const out = feed(scanner, bytes, bytes.length)
      expect(scanner.overflowed).toBe(true)
      expect(out.toString()).toBe(first)
    })

    it(`${mode}: an event of exactly maxEventBytes passes`, () => {
      const event = `data: {"x":"${'y'.repeat(100)}"}\n\n`
      const scanner = new SseScanner(strip ? usageChunkHold : undefined, true, event.length)
      const bytes = Buffer.from(first + event + 'data: [DONE]\n\n')
      expect(feed(scanner, bytes, 7).equals(bytes)).toBe(true)
      expect(scanner.overflowed).toBe(false)
      expect(scanner.sawDone).toBe(true)
    })
  }
})

describe('SseScanner: the hold of strip mode is bounded', () => {
  it('an event whose choices come after the bounded prefix flows once the prefix is passed', () => {
    const scanner = new SseScanner(usageChunkHold, true)
    const seen: Buffer[] = []
    const prefix = Buffer.from('data: {"id":"x","pad":"' + 'a'.repeat(HOLD_LIMIT_BYTES + 1000))
    for (let at = 0; at < prefix.length; at += 1000) scanner.push(prefix.subarray(at, at + 1000), (b) => seen.push(b))
    // The event has not ended, yet all but the last sliver went out.
    expect(Buffer.concat(seen).length).toBeGreaterThan(HOLD_LIMIT_BYTES)
    scanner.push(Buffer.from('","choices":[{"index":0}]}\n\n'), (b) => seen.push(b))
    expect(Buffer.concat(seen).toString().endsWith('"choices":[{"index":0}]}\n\n')).toBe(true)
  })

  it('a usage-only chunk larger than the bound goes through unmodified, its usage still seen', () => {
    const scanner = new SseScanner(usageChunkHold, true)
    const big = `data: {"choices":[],"pad":"${'a'.repeat(HOLD_LIMIT_BYTES)}","usage":{"prompt_tokens":3}}\n\n`
    const bytes = Buffer.from(big + 'data: [DONE]\n\n')
    expect(feed(scanner, bytes, 4096).equals(bytes)).toBe(true)
    expect(scanner.strippedEvent).toBeUndefined()
    expect(JSON.parse(sseData(scanner.usageEvent!)!).usage.prompt_tokens).toBe(3)
  })

  it('asks the policy a logarithmic number of times for a prefix that comes in slivers', () => {
    let asked = 0
    const unsure: SseHold = { flows: () => { asked++; return false }, drops: () => false }
    const scanner = new SseScanner(unsure)
    const prefix = Buffer.from('data: ' + 'a'.repeat(HOLD_LIMIT_BYTES))
    for (let at = 0; at < prefix.length; at += 16) scanner.push(prefix.subarray(at, at + 16), () => {})
    // Each look joins what is held: doubling between looks keeps the copying linear.
    expect(asked).toBeLessThan(20)
  })
})

describe('SseScanner: usage found across the parts of an event, without joining it', () => {
  const usage = 'data: {"choices":[],"usage" : {"prompt_tokens":7}}\n\n'
  const nul = 'data: {"choices":[{"index":0}],"usage":null}\n\n'
  for (let size = 1; size <= 12; size++) {
    it(`finds a usage object split into ${size}-byte chunks, and not a null usage`, () => {
      const scanner = new SseScanner(undefined, true)
      feed(scanner, Buffer.from(nul + usage + nul + 'data: [DONE]\n\n'), size)
      expect(scanner.usageEvent?.toString()).toBe(usage)
      const none = new SseScanner(undefined, true)
      feed(none, Buffer.from(nul + nul), size)
      expect(none.usageEvent).toBeUndefined()
    })
  }

  it('finds it in a large event split into 64 KiB chunks', () => {
    const scanner = new SseScanner(undefined, true)
    const big = Buffer.from(`data: {"pad":"${'a'.repeat(300_000)}","usage":{"prompt_tokens":9}}\n\n`)
    feed(scanner, big, 65536)
    expect(JSON.parse(sseData(scanner.usageEvent!)!).usage.prompt_tokens).toBe(9)
  })
})
