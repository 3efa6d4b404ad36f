import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { posix } from 'node:path'

/**
 * A small upstream holding objects the way OpenAI's API does: files (with content),
 * batches (finished on their first read, with an output file and usage), vector stores,
 * containers, stored responses and chat completions, conversations; lists in OpenAI's
 * cursor shape. Deliberately lenient, like proxies and some upstreams: it normalises
 * paths (`//`, `.`, `..`, a trailing `/`), reads JSON whatever the content-type, and
 * serves any object to anyone (it has one account): only the gateway keeps keys apart.
 * Every request it receives is recorded for the tests to assert on.
 */

export interface ObjectsRequest {
  readonly method: string
  /** The path as received (before normalising). */
  readonly rawPath: string
  /** The normalised path without the query. */
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: IncomingMessage['headers']
  readonly body: Buffer
  readonly json: Record<string, any> | undefined
}

export interface ObjectsUpstream {
  readonly baseUrl: string
  readonly requests: ObjectsRequest[]
  /** Objects by id (any collection): the upstream's own view. */
  readonly objects: Map<string, Record<string, any>>
  /** Whether finished batches report `usage` (some upstreams do not). */
  batchUsage: boolean
  /** Requests whose path contains `part` (a convenience for assertions). */
  received (part: string): ObjectsRequest[]
  close (): Promise<void>
}

const USAGE_PER_REQUEST = { input: 500, cached: 100, output: 50, reasoning: 10 }

const PREFIXES: Record<string, string> = {
  files: 'file-',
  batches: 'batch_',
  vector_stores: 'vs_',
  containers: 'cntr_',
  responses: 'resp_',
  conversations: 'conv_',
  uploads: 'upload_',
  'chat/completions': 'chatcmpl-'
}

const OBJECT_NAMES: Record<string, string> = {
  files: 'file',
  batches: 'batch',
  vector_stores: 'vector_store',
  containers: 'container',
  responses: 'response',
  conversations: 'conversation',
  uploads: 'upload',
  'chat/completions': 'chat.completion'
}

function normalise (raw: string): string {
  let p = raw
  try {
    p = decodeURIComponent(raw)
  } catch {}
  p = posix.normalize(p.replace(/\\/g, '/'))
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p
}

function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function notFound (res: ServerResponse, id: string): void {
  json(res, 404, { error: { message: `No such object: ${id}`, type: 'invalid_request_error', param: 'id', code: null } })
}

/** A cursor page of `items` (newest first), as OpenAI lists them. */
function page (items: Array<Record<string, any>>, query: URLSearchParams): Record<string, unknown> {
  const limit = Math.max(1, Math.min(Number(query.get('limit') ?? 20) || 20, 10_000))
  const after = query.get('after')
  let start = 0
  if (after !== null) start = items.findIndex((i) => i.id === after) + 1
  const data = items.slice(start, start + limit)
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: start + limit < items.length }
}

/** Responses usage, per request of a batch. */
function usageTimes (n: number): Record<string, unknown> {
  return {
    input_tokens: USAGE_PER_REQUEST.input * n,
    input_tokens_details: { cached_tokens: USAGE_PER_REQUEST.cached * n },
    output_tokens: USAGE_PER_REQUEST.output * n,
    output_tokens_details: { reasoning_tokens: USAGE_PER_REQUEST.reasoning * n },
    total_tokens: (USAGE_PER_REQUEST.input + USAGE_PER_REQUEST.output) * n
  }
}

/**
 * Starts the objects upstream on a free port.
 * @example const up = await startObjectsUpstream(); startGateway({ UPSTREAM_BASE_URL: up.baseUrl })
 */
export async function startObjectsUpstream (): Promise<ObjectsUpstream> {
  const requests: ObjectsRequest[] = []
  const objects = new Map<string, Record<string, any>>()
  const contents = new Map<string, Buffer>()
  let clock = 1_700_000_000
  const state = { batchUsage: true }

  const make = (collection: string, fields: Record<string, unknown>): Record<string, any> => {
    const id = PREFIXES[collection]! + randomBytes(8).toString('hex')
    const o = { id, object: OBJECT_NAMES[collection], created_at: clock++, _collection: collection, ...fields }
    objects.set(id, o)
    return o
  }
  const visible = (o: Record<string, any>): Record<string, any> => {
    const { _collection: _c, ...rest } = o
    return rest
  }
  const listOf = (collection: string): Array<Record<string, any>> =>
    [...objects.values()].filter((o) => o._collection === collection).sort((a, b) => b.created_at - a.created_at).map(visible)

  /** A batch finishes when it is first read: one output line per input line. */
  const finish = (batch: Record<string, any>): void => {
    if (batch.status === 'completed') return
    const input = contents.get(batch.input_file_id) ?? Buffer.alloc(0)
    const lines = input.toString('utf8').split('\n').filter((l) => l.trim() !== '')
    const out = lines.map((l, i) => {
      let custom = `request-${i}`
      let model = 'gpt-5.2-chat-latest'
      try {
        const parsed = JSON.parse(l)
        custom = parsed.custom_id ?? custom
        model = parsed.body?.model ?? model
      } catch {}
      const usage = { prompt_tokens: USAGE_PER_REQUEST.input, completion_tokens: USAGE_PER_REQUEST.output, prompt_tokens_details: { cached_tokens: USAGE_PER_REQUEST.cached }, completion_tokens_details: { reasoning_tokens: USAGE_PER_REQUEST.reasoning } }
      return JSON.stringify({ id: `batch_req_${i}`, custom_id: custom, response: { status_code: 200, request_id: `r${i}`, body: { id: `chatcmpl-b${i}`, object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage } }, error: null })
    })
    const file = make('files', { bytes: 0, filename: 'batch_output.jsonl', purpose: 'batch_output', status: 'processed' })
    const content = Buffer.from(out.map((l) => l + '\n').join(''))
    file.bytes = content.length
    contents.set(file.id, content)
    batch.status = 'completed'
    batch.output_file_id = file.id
    batch.request_counts = { total: lines.length, completed: lines.length, failed: 0 }
    batch.completed_at = clock++
    batch._requests = lines.length
  }
  const batchView = (b: Record<string, any>): Record<string, any> => {
    const { _requests: n, ...rest } = visible(b)
    return state.batchUsage && b.status === 'completed' ? { ...rest, model: 'gpt-5.2-chat-latest', usage: usageTimes(n as number) } : rest
  }

  const route = (r: ObjectsRequest, res: ServerResponse): void => {
    const parts = r.path.split('/').filter(Boolean) // ['v1', collection, id?, sub?]
    if (parts[0] !== 'v1') return notFound(res, r.path)
    let collection = parts[1] ?? ''
    let rest = parts.slice(2)
    if (collection === 'chat' && parts[2] === 'completions') {
      collection = 'chat/completions'
      rest = parts.slice(3)
    }
    if (PREFIXES[collection] === undefined) return notFound(res, r.path)
    const [id, sub] = rest
    if (id === undefined) {
      if (r.method === 'GET') return json(res, 200, page(listOf(collection).map((o) => collection === 'batches' ? batchView(objects.get(o.id)!) : o), r.query))
      if (r.method !== 'POST') return notFound(res, r.path)
      return create(collection, r, res)
    }
    const o = objects.get(id)
    if (o === undefined || o._collection !== collection) return notFound(res, id)
    if (r.method === 'DELETE' && sub === undefined) {
      objects.delete(id)
      return json(res, 200, { id, object: `${OBJECT_NAMES[collection]}.deleted`, deleted: true })
    }
    if (collection === 'files' && sub === 'content') {
      const content = contents.get(id) ?? Buffer.alloc(0)
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      // Two writes: the body reaches the gateway in more than one chunk.
      const half = Math.floor(content.length / 2)
      res.write(content.subarray(0, half))
      setTimeout(() => { res.end(content.subarray(half)) }, 5)
      return
    }
    if (collection === 'batches') {
      if (sub === 'cancel') o.status = 'cancelled'
      else finish(o)
      return json(res, 200, batchView(o))
    }
    if (sub === 'input_items' || sub === 'items' || sub === 'files' || sub === 'messages') return json(res, 200, page([], r.query))
    return json(res, 200, visible(o))
  }

  const create = (collection: string, r: ObjectsRequest, res: ServerResponse): void => {
    const body = r.json ?? {}
    if (collection === 'files') {
      // Multipart, read leniently: the file part's bytes are what follows the first blank line.
      const text = r.body.toString('utf8')
      const filename = /filename="([^"]*)"/.exec(text)?.[1] ?? 'upload'
      const purpose = /name="purpose"\r\n\r\n([^\r]*)/.exec(text)?.[1] ?? 'batch'
      const start = text.indexOf('\r\n\r\n', text.indexOf('filename="'))
      const end = text.indexOf('\r\n--', start + 4)
      const content = Buffer.from(start === -1 ? '' : text.slice(start + 4, end === -1 ? undefined : end))
      const f = make('files', { bytes: content.length, filename, purpose, status: 'processed' })
      contents.set(f.id, content)
      return json(res, 200, visible(f))
    }
    if (collection === 'batches') {
      const b = make('batches', { endpoint: body.endpoint, input_file_id: body.input_file_id, completion_window: body.completion_window ?? '24h', status: 'validating', output_file_id: null, error_file_id: null, request_counts: { total: 0, completed: 0, failed: 0 } })
      return json(res, 200, batchView(b))
    }
    if (collection === 'vector_stores') return json(res, 200, visible(make('vector_stores', { name: body.name ?? null, status: 'completed', file_counts: { total: 0 } })))
    if (collection === 'containers') return json(res, 200, visible(make('containers', { name: body.name ?? 'c', status: 'running' })))
    if (collection === 'conversations') return json(res, 200, visible(make('conversations', { metadata: {} })))
    if (collection === 'responses') return respond(body, res)
    if (collection === 'chat/completions') {
      const c = make('chat/completions', { model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } })
      return json(res, 200, visible(c))
    }
    return notFound(res, r.path)
  }

  const respond = (body: Record<string, any>, res: ServerResponse): void => {
    const usage = { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 12 }
    const r = make('responses', { status: 'completed', model: body.model, previous_response_id: body.previous_response_id ?? null, output: [{ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'ok', annotations: [] }] }], usage })
    if (body.stream !== true) return json(res, 200, visible(r))
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    const created = { ...visible(r), status: 'in_progress', usage: null, output: [] }
    res.write(`event: response.created\ndata: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response: created })}\n\n`)
    res.end(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 1, response: visible(r) })}\n\n`)
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const rawPath = req.url ?? '/'
      const q = rawPath.indexOf('?')
      let parsed: Record<string, any> | undefined
      try {
        const v = JSON.parse(body.toString('utf8'))
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) parsed = v
      } catch {}
      const r: ObjectsRequest = {
        method: req.method ?? 'GET',
        rawPath,
        path: normalise(q === -1 ? rawPath : rawPath.slice(0, q)),
        query: new URLSearchParams(q === -1 ? '' : rawPath.slice(q + 1)),
        headers: req.headers,
        body,
        json: parsed
      }
      requests.push(r)
      try {
        route(r, res)
      } catch (err) {
        json(res, 500, { error: { message: String(err), type: 'server_error', param: null, code: null } })
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    objects,
    get batchUsage () { return state.batchUsage },
    set batchUsage (v: boolean) { state.batchUsage = v },
    received: (part) => requests.filter((r) => r.rawPath.includes(part) || r.body.includes(part)),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
