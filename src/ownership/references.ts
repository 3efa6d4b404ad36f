import type { Collection } from './collections.js'

/**
 * Ids a request body names (pure). A body may point the upstream at an object as surely
 * as a path does: `previous_response_id` continues someone's conversation, a `file_id`
 * in a message reads their file. Each one found is checked like a path id.
 *
 * Where they are looked for:
 * - top level only: `previous_response_id`, `conversation` (a string or `{id}`),
 *   `training_file` / `validation_file` (fine-tuning);
 * - at any depth: `file_id`, `input_file_id` (string), `file_ids`, `vector_store_ids`
 *   (strings), `vector_store_id` and `container` (string). An object or number under
 *   such a name (a JSON schema's `properties.file_id`) is not a reference.
 * - never inside `metadata` (the client's own labels) or `annotations` (citations an
 *   answer carried, echoed back as input: they point at nothing the upstream will open).
 *
 * Parsers disagree where the gateway must not: JSON.parse keeps the last of two equal
 * keys (some upstreams the first), and Go's encoding/json matches names ignoring case
 * (`File_ID`, `ﬁle` aside, is `file_id` to it). So names are matched under simple case
 * folding, and a body that gives a reference name twice in one object is refused.
 *
 * The walk is iterative (no recursion, whatever the nesting) and visits each value once.
 */

export interface Reference {
  readonly collection: Collection
  readonly id: string
  /** Where it was found, OpenAI style: `input[0].content[1].file_id`. */
  readonly param: string
}

/** More references than this in one body is refused (a vector store batch takes 500 files). */
export const MAX_REFERENCES = 2000

const TOP: ReadonlyMap<string, Collection> = new Map([
  ['previous_response_id', 'responses'],
  ['conversation', 'conversations'],
  ['training_file', 'files'],
  ['validation_file', 'files']
])

/** What a key names, in one lookup per key: a single id, a list of ids, or a subtree to skip. */
type Kind = { readonly one: Collection } | { readonly many: Collection } | 'skip'

const KEYS: ReadonlyMap<string, Kind> = new Map<string, Kind>([
  ['file_id', { one: 'files' }],
  ['input_file_id', { one: 'files' }],
  ['vector_store_id', { one: 'vector_stores' }],
  ['container', { one: 'containers' }],
  ['file_ids', { many: 'files' }],
  ['vector_store_ids', { many: 'vector_stores' }],
  ['metadata', 'skip'],
  ['annotations', 'skip']
])

/** Lengths of the names above: only keys of these lengths are folded (most keys are not). */
const LENGTHS: ReadonlySet<number> = new Set([...KEYS.keys()].map((k) => k.length))

/** Simple case folding as Go applies it (`ſ` → `s`, Kelvin `K` → `k`); length-preserving for these names. */
function fold (key: string): string {
  return key.toUpperCase().toLowerCase()
}

function kindOf (key: string): Kind | undefined {
  return KEYS.get(key) ?? (LENGTHS.has(key.length) ? KEYS.get(fold(key)) : undefined)
}

/** Thrown when a body names more objects than MAX_REFERENCES. */
export class TooManyReferences extends Error {
  constructor (readonly param: string) {
    super(`more than ${MAX_REFERENCES} object references`)
  }
}

/**
 * The walk's containers, as parallel arrays (no object per container): container i was
 * reached from container `parents[i]` under `keys[i]`; -1 is the body itself. The
 * `param` of a reference is built from them only when one is found.
 */
interface Trail {
  readonly parents: number[]
  readonly keys: Array<string | number>
}

function paramOf (trail: Trail, at: number, key: string | number): string {
  const parts: Array<string | number> = [key]
  for (let i = at; i !== -1; i = trail.parents[i]!) parts.push(trail.keys[i]!)
  let out = ''
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i]!
    out += typeof p === 'number' ? `[${p}]` : (out === '' ? p : '.' + p)
  }
  return out
}

function conversationId (v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const id = (v as { id?: unknown }).id
    return typeof id === 'string' ? id : undefined
  }
  return undefined
}

/**
 * Every object reference of a JSON body, each place once (the same id in two places is
 * two references, so the refusal can name either). Throws TooManyReferences.
 * @example bodyReferences({ previous_response_id: 'resp_1' }) // [{ collection: 'responses', id: 'resp_1', param: 'previous_response_id' }]
 */
export function bodyReferences (json: Readonly<Record<string, unknown>>): Reference[] {
  return scanReferences(json).refs
}

/**
 * The references of a body, and whether any reference name occurs at all (then the raw
 * text is checked for a name given twice: see duplicateReference).
 */
export function scanReferences (json: Readonly<Record<string, unknown>>): { refs: Reference[], named: boolean } {
  let named = false
  const out: Reference[] = []
  const trail: Trail = { parents: [], keys: [] }
  const add = (collection: Collection, id: string, at: number, key: string | number): void => {
    if (id.length === 0) return
    if (out.length >= MAX_REFERENCES) throw new TooManyReferences(paramOf(trail, at, key))
    out.push({ collection, id, param: paramOf(trail, at, key) })
  }
  for (const [key, collection] of TOP) {
    const v = json[key]
    const id = key === 'conversation' ? conversationId(v) : (typeof v === 'string' ? v : undefined)
    if (id !== undefined) add(collection, id, -1, key)
  }
  // Pending containers and the trail index each was reached from.
  const values: object[] = [json]
  const froms: number[] = [-1]
  const enter = (value: object, from: number, key: string | number): void => {
    // Nothing to find in an empty array, and a body of a million of them must not cost a trail entry each.
    if (Array.isArray(value) && value.length === 0) return
    trail.parents.push(from)
    trail.keys.push(key)
    values.push(value)
    froms.push(trail.keys.length - 1)
  }
  while (values.length > 0) {
    const value = values.pop()!
    const at = froms.pop()!
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i]
        if (v !== null && typeof v === 'object') enter(v, at, i)
      }
      continue
    }
    for (const key in value) {
      const v: unknown = (value as Record<string, unknown>)[key]
      const kind = kindOf(key)
      if (kind === undefined) {
        if (v !== null && typeof v === 'object') enter(v, at, key)
      } else if (kind !== 'skip') {
        named = true
        if ('one' in kind) {
          if (typeof v === 'string') add(kind.one, v, at, key)
          else if (v !== null && typeof v === 'object') enter(v, at, key)
        } else if (Array.isArray(v)) {
          trail.parents.push(at)
          trail.keys.push(key)
          const list = trail.keys.length - 1
          for (let i = 0; i < v.length; i++) if (typeof v[i] === 'string') add(kind.many, v[i] as string, list, i)
        }
      }
    }
  }
  return { refs: out, named }
}

/** Index of the quote that closes the string opening at `open` (the text parsed as JSON). */
function stringEnd (text: string, open: number): number {
  let j = text.indexOf('"', open + 1)
  for (;;) {
    let k = j - 1
    while (text.charCodeAt(k) === 0x5c) k--
    // An even run of backslashes before the quote escapes nothing.
    if ((j - 1 - k) % 2 === 0) return j
    j = text.indexOf('"', j + 1)
  }
}

/** Longest raw key that may spell a reference name (every character escaped as `\uXXXX`). */
const MAX_RAW_NAME = 6 * 16

/**
 * The first reference name given twice in one object of `text` (a body JSON.parse
 * accepted), under folding, or undefined. JSON.parse has merged such keys already, so
 * this reads the text: strings are skipped with `indexOf`, brackets counted outside them.
 * @example duplicateReference('{"input":[{"file_id":"a","file_id":"b"}]}') // 'file_id'
 */
export function duplicateReference (text: string): string | undefined {
  // Per open bracket: 0 for an array, 1 for an object without reference names yet, else its names.
  const stack: Array<0 | 1 | Set<string>> = []
  let expectKey = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      const end = stringEnd(text, i)
      const top = stack[stack.length - 1]
      if (expectKey && top !== undefined && top !== 0 && end - i - 1 <= MAX_RAW_NAME) {
        const raw = text.slice(i + 1, end)
        const key = raw.includes('\\') ? JSON.parse(text.slice(i, end + 1)) as string : raw
        const kind = kindOf(key)
        if (kind !== undefined && kind !== 'skip') {
          const name = KEYS.has(key) ? key : fold(key)
          const names = top === 1 ? new Set<string>() : top
          if (names.has(name)) return key
          names.add(name)
          stack[stack.length - 1] = names
        }
      }
      expectKey = false
      i = end
    } else if (c === 0x7b) {
      stack.push(1)
      expectKey = true
    } else if (c === 0x5b) {
      stack.push(0)
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop()
    } else if (c === 0x2c) {
      expectKey = stack[stack.length - 1] !== 0
    }
  }
  return undefined
}
