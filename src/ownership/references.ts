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

const ONE: ReadonlyMap<string, Collection> = new Map([
  ['file_id', 'files'],
  ['input_file_id', 'files'],
  ['vector_store_id', 'vector_stores'],
  ['container', 'containers']
])

const MANY: ReadonlyMap<string, Collection> = new Map([
  ['file_ids', 'files'],
  ['vector_store_ids', 'vector_stores']
])

const SKIP: ReadonlySet<string> = new Set(['metadata', 'annotations'])

/** Thrown when a body names more objects than MAX_REFERENCES. */
export class TooManyReferences extends Error {
  constructor (readonly param: string) {
    super(`more than ${MAX_REFERENCES} object references`)
  }
}

/** One container on the walk's stack; `param` is built only for the frames that yield a reference. */
interface Frame {
  readonly value: object
  readonly parent: Frame | undefined
  readonly key: string | number
}

function paramOf (frame: Frame | undefined, key: string | number): string {
  const parts: Array<string | number> = [key]
  for (let f = frame; f !== undefined && f.parent !== undefined; f = f.parent) parts.push(f.key)
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
 * Every object reference of a JSON body, in document order, duplicates included once
 * per place (so the refusal names the first place). Throws TooManyReferences.
 * @example bodyReferences({ previous_response_id: 'resp_1' }) // [{ collection: 'responses', id: 'resp_1', param: 'previous_response_id' }]
 */
export function bodyReferences (json: Readonly<Record<string, unknown>>): Reference[] {
  const out: Reference[] = []
  const add = (collection: Collection, id: string, frame: Frame | undefined, key: string | number): void => {
    if (id.length === 0) return
    if (out.length >= MAX_REFERENCES) throw new TooManyReferences(paramOf(frame, key))
    out.push({ collection, id, param: paramOf(frame, key) })
  }
  for (const [key, collection] of TOP) {
    const v = json[key]
    const id = key === 'conversation' ? conversationId(v) : (typeof v === 'string' ? v : undefined)
    if (id !== undefined) add(collection, id, undefined, key)
  }
  const root: Frame = { value: json, parent: undefined, key: '' }
  const stack: Frame[] = [root]
  while (stack.length > 0) {
    const frame = stack.pop()!
    const value = frame.value
    const parent = frame === root ? undefined : frame
    if (Array.isArray(value)) {
      // Pushed in reverse so that the walk meets them in document order.
      for (let i = value.length - 1; i >= 0; i--) {
        const v: unknown = value[i]
        if (v !== null && typeof v === 'object') stack.push({ value: v, parent: frame, key: i })
      }
      continue
    }
    const keys = Object.keys(value)
    const children: Frame[] = []
    for (const key of keys) {
      const v: unknown = (value as Record<string, unknown>)[key]
      const one = ONE.get(key)
      if (one !== undefined && typeof v === 'string') {
        add(one, v, parent, key)
        continue
      }
      const many = MANY.get(key)
      if (many !== undefined && Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const item: unknown = v[i]
          if (typeof item === 'string') add(many, item, { value: v, parent: frame, key }, i)
        }
        continue
      }
      if (v !== null && typeof v === 'object' && !SKIP.has(key)) children.push({ value: v, parent: frame, key })
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!)
  }
  return out
}
