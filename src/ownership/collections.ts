/**
 * Which requests touch objects that belong to a key, read from the request alone (pure).
 *
 *   /files/{id}[/…]              files              /chat/completions/{id}[/…]  chat_completions
 *   /uploads/{id}[/…]            uploads            /conversations/{id}[/…]     conversations
 *   /batches/{id}[/…]            batches            /fine_tuning/jobs/{id}[/…]  fine_tuning_jobs
 *   /vector_stores/{id}[/…]      vector_stores      /responses/{id}[/…]         responses
 *   /containers/{id}[/…]         containers           (not /responses/compact, /responses/input_tokens)
 *
 * Anything below an object (`/files/{id}/content`, `/vector_stores/{id}/files/{file}`)
 * belongs to that object: owning the object is what lets a key reach it.
 */

export const COLLECTIONS = ['files', 'uploads', 'batches', 'vector_stores', 'containers', 'responses', 'chat_completions', 'conversations', 'fine_tuning_jobs'] as const
export type Collection = typeof COLLECTIONS[number]

/** How each collection is spelled in paths: its segments before the id. */
const ROOTS: ReadonlyMap<string, { readonly second?: string, readonly collection: Collection, readonly notIds?: ReadonlySet<string> }> = new Map([
  ['files', { collection: 'files' }],
  ['uploads', { collection: 'uploads' }],
  ['batches', { collection: 'batches' }],
  ['vector_stores', { collection: 'vector_stores' }],
  ['containers', { collection: 'containers' }],
  ['responses', { collection: 'responses', notIds: new Set(['compact', 'input_tokens']) }],
  ['chat', { second: 'completions', collection: 'chat_completions' }],
  ['conversations', { collection: 'conversations' }],
  ['fine_tuning', { second: 'jobs', collection: 'fine_tuning_jobs' }]
])

/** The first path segment of every route that may name an object: the one Set lookup non-object routes pay. */
export const OBJECT_ROOTS: ReadonlySet<string> = new Set(ROOTS.keys())

/** Collections with a list route (`GET /v1/files`, …) whose answers are filtered. */
const LISTED: ReadonlySet<Collection> = new Set(['files', 'batches', 'vector_stores', 'containers', 'chat_completions', 'fine_tuning_jobs', 'conversations'])

/** Words for error messages: what OpenAI calls each kind of object. */
export const NOUNS: Readonly<Record<Collection, string>> = {
  files: 'File object',
  uploads: 'Upload',
  batches: 'Batch',
  vector_stores: 'vector store',
  containers: 'Container',
  responses: 'Response',
  chat_completions: 'chat completion',
  conversations: 'Conversation',
  fine_tuning_jobs: 'fine-tuning job'
}

/** What a request does to objects. */
export type ObjectRoute =
  /** Names an object by id: the caller must own it. `sub` is the first segment below it. */
  | { readonly kind: 'object', readonly collection: Collection, readonly id: string, readonly sub: string | undefined, readonly depth: number }
  /** `GET` of a collection: the answer is filtered to the caller's objects. */
  | { readonly kind: 'list', readonly collection: Collection }
  /** `POST` of a collection: the answer's id becomes the caller's. */
  | { readonly kind: 'create', readonly collection: Collection }

const MAX_ID_LENGTH = 256

/**
 * The first segment of a path below `/v1` (`/files/x?y` → `files`), the cheap test that
 * sends every other route straight on.
 */
export function rootOf (path: string): string {
  let end = path.length
  for (let i = 1; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c === 0x2f || c === 0x3f) { end = i; break }
  }
  return path.slice(1, end)
}

/**
 * A collection segment as a lenient upstream may read it: percent escapes decoded and
 * case folded (`%66iles`, `Files` and `FILES` all reach `files` on some routers).
 */
export function segmentName (segment: string): string {
  let s = segment
  if (s.includes('%')) {
    try {
      s = decodeURIComponent(s)
    } catch {}
  }
  return s.toUpperCase().toLowerCase()
}

/** An id segment as the upstream will read it; undefined when it cannot be one. */
function decodeId (segment: string): string | undefined {
  if (segment.length === 0 || segment.length > MAX_ID_LENGTH) return undefined
  if (!segment.includes('%')) return segment
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

/**
 * Classifies a canonical path below `/v1` (query allowed). Undefined for routes that
 * neither name, list nor create objects. An id segment that cannot be decoded is kept
 * raw: it is never a recorded id, so the request is refused as unknown.
 * @example objectRoute('GET', '/files/file-1/content') // { kind: 'object', collection: 'files', id: 'file-1', sub: 'content', depth: 1 }
 */
export function objectRoute (method: string, path: string): ObjectRoute | undefined {
  const q = path.indexOf('?')
  const segments = (q === -1 ? path : path.slice(0, q)).split('/')
  // segments[0] is '' (the leading slash).
  const first = segments[1] ?? ''
  const root = ROOTS.get(first) ?? ROOTS.get(segmentName(first))
  if (root === undefined) return undefined
  let at = 2
  if (root.second !== undefined) {
    const second = segments[2] ?? ''
    if (second !== root.second && segmentName(second) !== root.second) return undefined
    at = 3
  }
  const idSegment = segments[at]
  if (idSegment === undefined || idSegment === '') {
    if (method === 'GET' && LISTED.has(root.collection)) return { kind: 'list', collection: root.collection }
    if (method === 'POST') return { kind: 'create', collection: root.collection }
    return undefined
  }
  if (root.notIds?.has(segmentName(idSegment)) === true && segments.length === at + 1) return undefined
  const id = decodeId(idSegment) ?? idSegment
  return { kind: 'object', collection: root.collection, id, sub: segments[at + 1], depth: segments.length - at - 1 }
}

/** An object an answer made (or revealed) that now belongs to someone. */
export interface CreatedObject {
  readonly collection: Collection
  readonly id: string
  /** The batch or fine-tuning job whose results this file holds. */
  readonly parentId?: string
}

type Obj = Record<string, unknown>

function obj (v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Obj : undefined
}

function idOf (v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH ? v : undefined
}

/** Files a batch or fine-tuning job produced: they belong to whoever owns the batch or job. */
export function resultFiles (collection: Collection, body: unknown): CreatedObject[] {
  const b = obj(body)
  const parentId = idOf(b?.id)
  if (b === undefined || parentId === undefined) return []
  const out: CreatedObject[] = []
  if (collection === 'batches') {
    for (const f of [b.output_file_id, b.error_file_id]) {
      const id = idOf(f)
      if (id !== undefined) out.push({ collection: 'files', id, parentId })
    }
  } else if (collection === 'fine_tuning_jobs' && Array.isArray(b.result_files)) {
    for (const f of b.result_files.slice(0, 100)) {
      const id = idOf(f)
      if (id !== undefined) out.push({ collection: 'files', id, parentId })
    }
  }
  return out
}

/** Containers a response's code interpreter made on its own (`container: {type: "auto"}`). */
function responseContainers (body: Obj): CreatedObject[] {
  const output = body.output
  if (!Array.isArray(output)) return []
  const out: CreatedObject[] = []
  for (const item of output.slice(0, 1000)) {
    const o = obj(item)
    const id = o?.type === 'code_interpreter_call' ? idOf(o.container_id) : undefined
    if (id !== undefined && !out.some((c) => c.id === id)) out.push({ collection: 'containers', id })
  }
  return out
}

/**
 * The objects a successful creation answer made: its `id` (a completed upload: the file
 * it became), plus what the answer reveals (a response's automatic containers).
 * `route` is the request's classification; `sub` and `parent` cover `POST …/{id}/complete`.
 */
export function createdObjects (route: ObjectRoute, body: unknown): CreatedObject[] {
  const b = obj(body)
  if (b === undefined) return []
  if (route.kind === 'create') {
    const id = idOf(b.id)
    if (id === undefined) return []
    const made: CreatedObject[] = [{ collection: route.collection, id }]
    if (route.collection === 'responses') made.push(...responseContainers(b))
    return made
  }
  if (route.kind === 'object' && route.collection === 'uploads' && route.sub === 'complete') {
    const id = idOf(obj(b.file)?.id)
    return id === undefined ? [] : [{ collection: 'files', id }]
  }
  return []
}
