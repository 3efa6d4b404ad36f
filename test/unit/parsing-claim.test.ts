import { describe, expect, it } from 'vitest'
import { ParsingBudget, ParsingClaim } from '../../src/proxy/json-bounds.js'

describe('ParsingClaim', () => {
  it('claims declared bytes and gives them back exactly once', () => {
    const budget = new ParsingBudget(100)
    const a = new ParsingClaim(budget)
    const b = new ParsingClaim(budget)
    expect(a.take(60)).toBe(true)
    expect(b.take(50)).toBe(false)
    expect(b.bytes).toBe(0)
    expect(b.take(40)).toBe(true)
    expect(budget.bytesInUse).toBe(100)
    a.release()
    a.release()
    expect(budget.bytesInUse).toBe(40)
    b.release()
    expect(budget.bytesInUse).toBe(0)
  })

  it('lets a body alone grow past the limit as it arrives, but not beside another', () => {
    const budget = new ParsingBudget(100)
    const alone = new ParsingClaim(budget)
    for (let i = 0; i < 5; i++) expect(alone.take(40)).toBe(true)
    expect(budget.bytesInUse).toBe(200)
    const other = new ParsingClaim(budget)
    expect(other.take(1)).toBe(false)
    alone.release()
    expect(other.take(30)).toBe(true)
    const growing = new ParsingClaim(budget)
    expect(growing.take(60)).toBe(true)
    expect(growing.take(20)).toBe(false)
    expect(growing.bytes).toBe(60)
    other.release()
    growing.release()
    expect(budget.bytesInUse).toBe(0)
  })

  it('takes nothing once released', () => {
    const budget = new ParsingBudget(100)
    const c = new ParsingClaim(budget)
    c.release()
    expect(c.take(10)).toBe(false)
    expect(budget.bytesInUse).toBe(0)
  })
})
