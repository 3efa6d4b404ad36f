import { describe, expect, it } from 'vitest'
import { BodyBuffer } from '../../src/proxy/body-buffer.js'

describe('BodyBuffer', () => {
  it('keeps a body of one chunk as it came', () => {
    const b = new BodyBuffer()
    const chunk = Buffer.from('{"a":1}')
    b.push(chunk)
    expect(b.body()).toBe(chunk)
    expect(new BodyBuffer().body().length).toBe(0)
  })

  for (const expected of [0, 10, 300_000, 1e12]) {
    it(`joins many chunks in order, whatever the content-length said (${expected})`, () => {
      const b = new BodyBuffer(expected)
      const parts: Buffer[] = []
      for (let i = 0; i < 500; i++) parts.push(Buffer.alloc(1 + (i % 700), i % 256))
      for (const p of parts) b.push(p)
      const whole = Buffer.concat(parts)
      expect(b.length).toBe(whole.length)
      expect(b.body().equals(whole)).toBe(true)
    })
  }

  it('gives the body at its size, not with the room it grew into', () => {
    const b = new BodyBuffer()
    b.push(Buffer.alloc(70_000, 1))
    b.push(Buffer.alloc(10, 2))
    const body = b.body()
    expect(body.length).toBe(70_010)
    expect(body.buffer.byteLength).toBeLessThan(70_010 * 1.25 + 8192)
  })

  it('a content-length far larger than the body still gives just the body', () => {
    const b = new BodyBuffer(1e12)
    b.push(Buffer.alloc(10))
    b.push(Buffer.alloc(10))
    expect(b.body().length).toBe(20)
  })
})
