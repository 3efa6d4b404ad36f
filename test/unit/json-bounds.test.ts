import { describe, expect, it } from 'vitest'
import { checkJsonBounds, JsonBoundsScanner, MAX_JSON_DEPTH, ParsingBudget } from '../../src/proxy/json-bounds.js'

const buf = (s: string): Buffer => Buffer.from(s)
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth)

/** The scanner's verdict when `body` arrives in pieces of `size` bytes. */
function inPieces (body: Buffer, size: number, maxDepth?: number, maxValues?: number): ReturnType<JsonBoundsScanner['feed']> {
  const s = new JsonBoundsScanner(maxDepth, maxValues)
  let v = s.feed(body.subarray(0, 0))
  for (let at = 0; at < body.length; at += size) v = s.feed(body.subarray(at, at + size))
  return v
}

describe('JsonBoundsScanner (a body in pieces)', () => {
  it('gives the whole body\'s verdict whatever the cuts, inside strings and escapes too', () => {
    const bodies: Array<[string, number, number]> = [
      ['{"a":1,"b":"x","c":true}', 256, 4],
      ['{"a":1,"b":"x","c":true}', 256, 3],
      ['[[],"s",-1.5e3,null]', 256, 5],
      ['[[],"s",-1.5e3,null]', 256, 4],
      ['{"k":"[{\\"[[[\\\\","v":[[[1]]]}', 4, 100],
      ['{"k":"[{\\"[[[\\\\","v":[[[1]]]}', 3, 100],
      [nested(300), 256, 1_000_000]
    ]
    for (const [text, depth, values] of bodies) {
      const whole = new JsonBoundsScanner(depth, values).feed(buf(text))
      for (const size of [1, 2, 3, 7]) expect(inPieces(buf(text), size, depth, values)).toEqual(whole)
    }
  })

  it('stays refused once a bound is broken', () => {
    const s = new JsonBoundsScanner(2, 100)
    expect(s.feed(buf('[[['))).toEqual({ ok: false, reason: 'depth', limit: 2 })
    expect(s.feed(buf(']]]'))).toEqual({ ok: false, reason: 'depth', limit: 2 })
  })
})

describe('checkJsonBounds', () => {
  it('accepts ordinary bodies, small and large', () => {
    expect(checkJsonBounds(buf('{"model":"m","messages":[{"role":"user","content":"hi"}]}'))).toEqual({ ok: true })
    const big = JSON.stringify({ model: 'm', input: 'x'.repeat(100_000), list: Array.from({ length: 1000 }, (_, i) => ({ i, s: 'a"b\\c' })) })
    expect(checkJsonBounds(buf(big))).toEqual({ ok: true })
  })

  it('allows exactly the maximum depth and refuses one more', () => {
    expect(checkJsonBounds(buf(nested(MAX_JSON_DEPTH)))).toEqual({ ok: true })
    expect(checkJsonBounds(buf(nested(MAX_JSON_DEPTH + 1)))).toEqual({ ok: false, reason: 'depth', limit: MAX_JSON_DEPTH })
    expect(checkJsonBounds(buf('{"a":' + nested(100_000) + '}'))).toMatchObject({ ok: false, reason: 'depth' })
  })

  it('counts scalars, arrays and objects but not keys', () => {
    // 1 object + 3 values of a, b, c; with limit 4 it passes, with 3 it fails.
    const body = buf('{"a":1,"b":"x","c":true}')
    expect(checkJsonBounds(body, 256, 4)).toEqual({ ok: true })
    expect(checkJsonBounds(body, 256, 3)).toEqual({ ok: false, reason: 'values', limit: 3 })
    // [ [], "s", -1.5e3, null ] is 5 values.
    expect(checkJsonBounds(buf('[[],"s",-1.5e3,null]'), 256, 5)).toEqual({ ok: true })
    expect(checkJsonBounds(buf('[[],"s",-1.5e3,null]'), 256, 4)).toMatchObject({ ok: false })
  })

  it('refuses ten million empty arrays by value count', () => {
    const body = Buffer.alloc(2 + 3 * 1_500_000, '[],')
    body[0] = 0x5b
    body[body.length - 1] = 0x5d
    expect(checkJsonBounds(body)).toEqual({ ok: false, reason: 'values', limit: 1_000_000 })
  })

  it('does not count brackets inside strings, escapes included', () => {
    const s = '"' + '[{\\"'.repeat(400) + '"'
    expect(checkJsonBounds(buf('{"a":' + s + '}'))).toEqual({ ok: true })
  })
})

describe('ParsingBudget', () => {
  it('admits up to the limit, always admits a body when idle, and releases', () => {
    const b = new ParsingBudget(100)
    expect(b.tryAcquire(60)).toBe(true)
    expect(b.tryAcquire(50)).toBe(false)
    expect(b.tryAcquire(40)).toBe(true)
    b.release(60)
    b.release(40)
    expect(b.bytesInUse).toBe(0)
    expect(b.tryAcquire(500)).toBe(true)
  })
})
