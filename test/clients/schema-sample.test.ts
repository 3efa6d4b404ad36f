import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { sampleFromSchema } from '../../src/mock/schema-sample.js'

/** The mock's structured answers must validate against the schema SDKs generate. */
describe('sampleFromSchema', () => {
  it('fills every property of an object, with friendly values for common names', () => {
    expect(sampleFromSchema({ type: 'object', properties: { city: { type: 'string' }, n: { type: 'integer' }, ok: { type: 'boolean' }, x: { type: 'number' } }, required: ['city'] }))
      .toEqual({ city: 'Paris', n: 42, ok: true, x: 4.2 })
  })

  it('takes const, the first enum value and defaults', () => {
    expect(sampleFromSchema({ type: 'object', properties: { a: { const: 'k' }, b: { enum: ['x', 'y'] }, c: { type: 'integer', default: 7 } } })).toEqual({ a: 'k', b: 'x', c: 7 })
  })

  it('honours string formats and lengths, number bounds and multiples', () => {
    expect(sampleFromSchema({ type: 'string', format: 'date-time' })).toBe('2026-01-01T00:00:00Z')
    expect(sampleFromSchema({ type: 'string', format: 'email' })).toBe('ada@example.com')
    expect((sampleFromSchema({ type: 'string', minLength: 40 }) as string).length).toBe(40)
    expect(sampleFromSchema({ type: 'string', maxLength: 3 })).toHaveLength(3)
    expect(sampleFromSchema({ type: 'integer', minimum: 100 })).toBe(100)
    expect(sampleFromSchema({ type: 'integer', maximum: 10 })).toBe(10)
    expect(sampleFromSchema({ type: 'integer', exclusiveMinimum: 50 })).toBe(51)
    expect(sampleFromSchema({ type: 'number', minimum: 0, maximum: 1 })).toBe(1)
    expect(sampleFromSchema({ type: 'integer', minimum: 1, multipleOf: 5 })).toBe(45)
  })

  it('gives arrays at least one item and at least minItems, at most maxItems', () => {
    expect(sampleFromSchema({ type: 'array', items: { type: 'integer' } })).toEqual([42])
    expect(sampleFromSchema({ type: 'array', items: { type: 'boolean' }, minItems: 3 })).toEqual([true, true, true])
    expect(sampleFromSchema({ type: 'array', items: { type: 'boolean' }, maxItems: 0 })).toEqual([])
    expect(sampleFromSchema({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], minItems: 2 })).toEqual(['mock answer', 42])
  })

  it('picks a non-null branch of anyOf / oneOf and of type lists, and merges allOf', () => {
    expect(sampleFromSchema({ anyOf: [{ type: 'null' }, { type: 'integer' }] })).toBe(42)
    expect(sampleFromSchema({ oneOf: [{ type: 'boolean' }, { type: 'string' }] })).toBe(true)
    expect(sampleFromSchema({ type: ['null', 'string'] })).toBe('mock answer')
    expect(sampleFromSchema({ allOf: [{ type: 'object', properties: { a: { type: 'integer' } } }, { properties: { b: { type: 'boolean' } } }] })).toEqual({ a: 42, b: true })
  })

  it('follows $ref into $defs and definitions, and ends on recursive schemas', () => {
    const tree = { $defs: { node: { type: 'object', properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['name', 'children'] } }, $ref: '#/$defs/node' }
    const value = sampleFromSchema(tree) as { name: string, children: unknown[] }
    expect(value.name).toBe('Ada Lovelace')
    expect(JSON.stringify(value).length).toBeLessThan(2000)
    expect(sampleFromSchema({ definitions: { u: { type: 'string', enum: ['c'] } }, type: 'object', properties: { unit: { $ref: '#/definitions/u' } } })).toEqual({ unit: 'c' })
  })

  it('never throws on odd input', () => {
    for (const s of [null, 1, 'x', [], true, { $ref: 'http://elsewhere' }, { $ref: '#/nowhere/at/all' }, { type: 'weird' }, { properties: 5 }, { anyOf: [] }]) {
      expect(() => sampleFromSchema(s)).not.toThrow()
    }
  })

  it('satisfies schemas zod generates, nested objects, enums, nullable and optional fields included', () => {
    const Schema = z.object({
      title: z.string().min(3),
      rating: z.number().int().min(1).max(5),
      tags: z.array(z.enum(['a', 'b'])).min(2),
      author: z.object({ name: z.string(), email: z.email() }),
      published: z.iso.datetime(),
      note: z.string().nullable(),
      maybe: z.boolean().optional(),
      kind: z.union([z.literal('book'), z.literal('paper')])
    })
    const value = sampleFromSchema(z.toJSONSchema(Schema))
    expect(Schema.safeParse(value).success).toBe(true)
  })
})
