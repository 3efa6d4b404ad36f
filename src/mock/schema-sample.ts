/**
 * A deterministic value that satisfies a JSON schema: what the mock upstream answers for
 * structured outputs (`response_format`, `text.format`) and tool-call arguments, so SDK
 * helpers that validate the answer (`chat.completions.parse`, `generateObject`,
 * `withStructuredOutput`) succeed against it.
 *
 * Covers what SDKs generate from zod or Pydantic models: object/properties/required,
 * enum/const, array/items/minItems, string (formats, lengths), number/integer (bounds),
 * boolean, null, type lists, anyOf/oneOf/allOf and `$ref` into `$defs`/`definitions`.
 * Pure; recursion is bounded so a self-referencing schema still ends.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue }
type Schema = Record<string, unknown>

const MAX_DEPTH = 8

/** Friendly values for common property names, so demo answers read well. */
const NAMED: Record<string, string> = {
  city: 'Paris',
  location: 'Paris',
  country: 'France',
  name: 'Ada Lovelace',
  title: 'A mock title',
  unit: 'celsius',
  language: 'en',
  query: 'mock query'
}

const FORMATS: Record<string, string> = {
  'date-time': '2026-01-01T00:00:00Z',
  date: '2026-01-01',
  time: '00:00:00Z',
  email: 'ada@example.com',
  uri: 'https://example.com/',
  url: 'https://example.com/',
  uuid: '00000000-0000-4000-8000-000000000000',
  hostname: 'example.com',
  ipv4: '192.0.2.1',
  ipv6: '2001:db8::1'
}

const isSchema = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v)
const num = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) ? v : undefined

/**
 * @param schema the JSON schema (draft 2020-12 or 7, as SDKs send it)
 * @example sampleFromSchema({ type: 'object', properties: { city: { type: 'string' } } }) // { city: 'Paris' }
 */
export function sampleFromSchema (schema: unknown): JsonValue {
  return sample(schema, isSchema(schema) ? schema : {}, '', 0)
}

function resolveRef (ref: string, root: Schema): unknown {
  if (!ref.startsWith('#')) return {}
  let node: unknown = root
  for (const part of ref.slice(1).split('/').filter((p) => p !== '')) {
    const key = decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~')
    node = isSchema(node) ? node[key] : undefined
  }
  return node ?? {}
}

function sample (node: unknown, root: Schema, name: string, depth: number): JsonValue {
  if (node === true || !isSchema(node)) return name === '' ? {} : `mock ${name}`
  if (typeof node.$ref === 'string') return depth >= MAX_DEPTH ? null : sample(resolveRef(node.$ref, root), root, name, depth + 1)
  if ('const' in node) return node.const as JsonValue
  if (Array.isArray(node.enum) && node.enum.length > 0) return node.enum[0] as JsonValue
  if ('default' in node && node.default !== undefined) return node.default as JsonValue
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = node[key]
    if (Array.isArray(options) && options.length > 0) {
      // Prefer a real value over `null` in nullable unions.
      const pick = options.find((o) => !(isSchema(o) && o.type === 'null')) ?? options[0]
      return sample({ ...withoutKey(node, key), ...(isSchema(pick) ? pick : {}) }, root, name, depth + 1)
    }
  }
  if (Array.isArray(node.allOf) && node.allOf.length > 0) {
    const parts = [withoutKey(node, 'allOf'), ...node.allOf.map((s) => isSchema(s) && typeof s.$ref === 'string' ? resolveRef(s.$ref, root) : s)]
    return sample(parts.reduce<Schema>(mergeSchemas, {}), root, name, depth + 1)
  }
  const type = typeOf(node)
  switch (type) {
    case 'object': return sampleObject(node, root, depth)
    case 'array': return sampleArray(node, root, name, depth)
    case 'string': return sampleString(node, name)
    case 'integer': return sampleNumber(node, true)
    case 'number': return sampleNumber(node, false)
    case 'boolean': return true
    case 'null': return null
    default: return name === '' ? {} : `mock ${name}`
  }
}

/** allOf: properties and required lists add up; other keywords, the last one wins. */
function mergeSchemas (a: Schema, b: unknown): Schema {
  if (!isSchema(b)) return a
  const properties = { ...(isSchema(a.properties) ? a.properties : {}), ...(isSchema(b.properties) ? b.properties : {}) }
  const required = [...(Array.isArray(a.required) ? a.required : []), ...(Array.isArray(b.required) ? b.required : [])]
  return Object.keys(properties).length === 0 ? { ...a, ...b } : { ...a, ...b, properties, required }
}

function withoutKey (node: Schema, key: string): Schema {
  const { [key]: _, ...rest } = node
  return rest
}

function typeOf (node: Schema): string | undefined {
  const t = node.type
  if (typeof t === 'string') return t
  if (Array.isArray(t)) return (t.find((x) => x !== 'null') ?? t[0]) as string | undefined
  if (isSchema(node.properties)) return 'object'
  if (node.items !== undefined) return 'array'
  return undefined
}

function sampleObject (node: Schema, root: Schema, depth: number): JsonValue {
  const out: Record<string, JsonValue> = {}
  if (depth >= MAX_DEPTH) return out
  const properties = isSchema(node.properties) ? node.properties : {}
  const required = Array.isArray(node.required) ? node.required.filter((k): k is string => typeof k === 'string') : []
  // Every declared property (strict schemas require them all), then any required one left.
  for (const key of new Set([...Object.keys(properties), ...required])) {
    out[key] = sample(properties[key] ?? {}, root, key, depth + 1)
  }
  return out
}

function sampleArray (node: Schema, root: Schema, name: string, depth: number): JsonValue {
  if (depth >= MAX_DEPTH) return []
  const min = num(node.minItems) ?? 0
  const max = num(node.maxItems) ?? Infinity
  const count = Math.min(Math.max(min, 1), max)
  const prefix = Array.isArray(node.prefixItems) ? node.prefixItems : []
  const item = name.endsWith('s') ? name.slice(0, -1) : name
  return Array.from({ length: count }, (_, i) => sample(prefix[i] ?? node.items ?? {}, root, item, depth + 1))
}

function sampleString (node: Schema, name: string): string {
  let s = (typeof node.format === 'string' ? FORMATS[node.format] : undefined) ?? NAMED[name.toLowerCase()] ?? (name === '' ? 'mock answer' : `mock ${name}`)
  const min = num(node.minLength) ?? 0
  const max = num(node.maxLength)
  while (s.length < min) s += 'x'
  if (max !== undefined && s.length > max) s = s.slice(0, max)
  return s
}

function sampleNumber (node: Schema, integer: boolean): number {
  const min = num(node.minimum) ?? (num(node.exclusiveMinimum) !== undefined ? num(node.exclusiveMinimum)! + (integer ? 1 : 0.5) : undefined)
  const max = num(node.maximum) ?? (num(node.exclusiveMaximum) !== undefined ? num(node.exclusiveMaximum)! - (integer ? 1 : 0.5) : undefined)
  let v = integer ? 42 : 4.2
  if (min !== undefined && v < min) v = min
  if (max !== undefined && v > max) v = max
  if (integer) v = min !== undefined ? Math.ceil(v) : Math.floor(v)
  const step = num(node.multipleOf)
  if (step !== undefined && step > 0) v = Math.ceil(v / step) * step
  return v
}
