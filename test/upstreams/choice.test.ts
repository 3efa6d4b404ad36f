import { describe, expect, it } from 'vitest'
import { byWeight, chooseUpstream, type Candidate } from '../../src/upstreams/choice.js'
import { UpstreamHealth } from '../../src/upstreams/health.js'

interface U extends Candidate { name: string }

function up (name: string, weight = 1, models: string[] | null = null): U {
  return { name, weight, models, health: new UpstreamHealth({ failuresToCooldown: 1, cooldownMs: 1000 }) }
}

/** A deterministic sequence in [0, 1). */
function sequence (...values: number[]): () => number {
  let i = 0
  return () => values[i++ % values.length]!
}

const base = { model: 'gpt-5.2', tried: [] as U[], excluded: new Set<U>(), now: 0, random: Math.random }

describe('weighted choice', () => {
  it('splits by weight', () => {
    const a = up('a', 3)
    const b = up('b', 1)
    expect(byWeight([a, b], 0)).toBe(a)
    expect(byWeight([a, b], 0.74)).toBe(a)
    expect(byWeight([a, b], 0.75)).toBe(b)
    expect(byWeight([a, b], 0.9999)).toBe(b)
    const counts = { a: 0, b: 0 }
    for (let i = 0; i < 1000; i++) counts[chooseUpstream([a, b], { ...base, random: () => i / 1000 })!.name as 'a' | 'b']++
    expect(counts).toEqual({ a: 750, b: 250 })
  })

  it('only upstreams that serve the model, with the key allow-list patterns', () => {
    const mini = up('mini', 1, ['*-mini'])
    const big = up('big', 1, ['gpt-5.2*'])
    expect(chooseUpstream([mini, big], { ...base, model: 'gpt-5.2-chat-latest' })).toBe(big)
    expect(chooseUpstream([mini, big], { ...base, model: 'gpt-4o-mini' })).toBe(mini)
    expect(chooseUpstream([mini, big], { ...base, model: 'claude' })).toBeUndefined()
    expect(chooseUpstream([mini], { ...base, model: 'claude' })).toBeUndefined()
  })

  it('a request without a model may go to any upstream', () => {
    const mini = up('mini', 1, ['*-mini'])
    expect(chooseUpstream([mini], { ...base, model: undefined })).toBe(mini)
  })

  it('skips upstreams in cooldown', () => {
    const a = up('a', 100)
    const b = up('b', 1)
    a.health.fail(0, a.health.begin(0))
    expect(chooseUpstream([a, b], { ...base, now: 10, random: () => 0 })).toBe(b)
    expect(chooseUpstream([a], { ...base, now: 10 })).toBeUndefined()
  })

  it('sends a first attempt to an upstream whose probe is due, whatever its weight', () => {
    const a = up('a', 1)
    const b = up('b', 100)
    a.health.fail(0, a.health.begin(0))
    expect(chooseUpstream([a, b], { ...base, now: 1000, random: () => 0.999 })).toBe(a)
    a.health.begin(1000)
    // The probe is out: the others take the traffic.
    expect(chooseUpstream([a, b], { ...base, now: 1001, random: () => 0 })).toBe(b)
  })

  it('a retry goes to an upstream not tried yet', () => {
    const a = up('a')
    const b = up('b')
    const c = up('c')
    const random = sequence(0, 0.5, 0.99)
    for (let i = 0; i < 3; i++) {
      expect(chooseUpstream([a, b, c], { ...base, tried: [a], random })).not.toBe(a)
    }
    expect(chooseUpstream([a, b, c], { ...base, tried: [a, c], random: () => 0 })).toBe(b)
  })

  it('the same upstream again only when there is no other', () => {
    const a = up('a')
    const b = up('b')
    // Both tried: not the one that just failed.
    expect(chooseUpstream([a, b], { ...base, tried: [a, b], random: () => 0 })).toBe(a)
    expect(chooseUpstream([a, b], { ...base, tried: [b, a], random: () => 0 })).toBe(b)
    expect(chooseUpstream([a], { ...base, tried: [a] })).toBe(a)
    // The other serves another model: the same again.
    const other = up('other', 1, ['claude*'])
    expect(chooseUpstream([a, other], { ...base, tried: [a] })).toBe(a)
  })

  it('never picks an excluded upstream', () => {
    const a = up('a')
    const b = up('b')
    expect(chooseUpstream([a, b], { ...base, tried: [a], excluded: new Set([a]) })).toBe(b)
    expect(chooseUpstream([a], { ...base, tried: [a], excluded: new Set([a]) })).toBeUndefined()
    expect(chooseUpstream([a, b], { ...base, tried: [a, b], excluded: new Set([a, b]) })).toBeUndefined()
  })
})
