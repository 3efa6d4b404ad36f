import { describe, expect, it } from 'vitest'
import { cacheKey, cacheScope, canonicalJson } from '../../src/cache/cache-key.js'

const base = { method: 'POST', path: '/chat/completions', scope: 'key:k1' }

describe('canonical JSON', () => {
  it('sorts object keys at every depth, keeps array order, and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }], s: 'x y' })).toBe('{"a":[2,{"c":4,"d":3}],"b":1,"s":"x y"}')
    expect(canonicalJson(JSON.parse('{ "z" : null , "y" : [ 1 , 2 ] }'))).toBe('{"y":[1,2],"z":null}')
  })

  it('writes strings and numbers as JSON does (escapes, unicode, exponents)', () => {
    expect(canonicalJson({ t: 'é"\n', n: 1e21, f: 0.5, neg: -0 })).toBe('{"f":0.5,"n":1e+21,"neg":0,"t":"é\\"\\n"}')
  })
})

describe('cache key', () => {
  it('is the same for bodies that differ only in key order or whitespace', () => {
    const a = cacheKey({ ...base, body: JSON.parse('{"model":"m","messages":[{"role":"user","content":"hi"}]}') })
    const b = cacheKey({ ...base, body: JSON.parse('{ "messages": [ { "content": "hi", "role": "user" } ], "model": "m" }') })
    expect(a).toBe(b)
    expect(a).toMatch(/^[0-9a-f]{64}$/)
  })

  it('differs by body, stream flag, path, method and scope', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] }
    const k = cacheKey({ ...base, body })
    expect(cacheKey({ ...base, body: { ...body, stream: true } })).not.toBe(k)
    expect(cacheKey({ ...base, body: { ...body, temperature: 0 } })).not.toBe(k)
    expect(cacheKey({ ...base, body: { ...body, messages: [{ role: 'user', content: 'hi!' }] } })).not.toBe(k)
    expect(cacheKey({ ...base, path: '/responses', body })).not.toBe(k)
    expect(cacheKey({ ...base, method: 'PUT', body })).not.toBe(k)
    expect(cacheKey({ ...base, scope: 'key:k2', body })).not.toBe(k)
  })

  it('scopes by key id, or shares everything when global', () => {
    expect(cacheScope('key', 'abc')).toBe('key:abc')
    expect(cacheScope('global', 'abc')).toBe('global')
  })
})

describe('canonicalJson on hostile bodies', () => {
  it('walks 100,000 levels of nesting without overflowing the stack', () => {
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000))
    expect(canonicalJson({ b: deep, a: 1 }).length).toBe(200_000 + '{"a":1,"b":}'.length)
  })

  it('matches JSON.stringify on sorted input, undefined and functions left out like it', () => {
    const v = { a: [1, undefined, () => 1, { z: null, y: 'x' }], c: undefined, d: 'é"\\' }
    expect(canonicalJson(v)).toBe('{"a":[1,null,null,{"y":"x","z":null}],"d":"é\\"\\\\"}')
    expect(canonicalJson([])).toBe('[]')
    expect(canonicalJson({})).toBe('{}')
  })
})
