import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { GatewayError } from '../../src/errors.js'
import { compose, LocalController, type Dispatch, type GatewayRequest, type Principal, type ResponseHandler, type ResponseHead } from '../../src/proxy/interceptor.js'
import { createPriceTable } from '../../src/metering/pricing.js'
import type { UsageRecord } from '../../src/metering/record.js'
import { BatchBilling } from '../../src/ownership/batch-billing.js'
import { ownershipInterceptor } from '../../src/ownership/interceptor.js'
import { createSqliteOwnershipStore } from '../../src/ownership/sqlite-store.js'
import type { OwnershipStore } from '../../src/ownership/store.js'
import { openSqlite, type SqliteDb } from '../../src/store/sqlite.js'

const log = pino({ level: 'silent' })
const A: Principal = { id: 'key_a', name: 'alice', teamId: null, teamName: null }
const B: Principal = { id: 'key_b', name: 'bob', teamId: null, teamName: null }
const A_TEAM: Principal = { id: 'key_a2', name: 'alice2', teamId: 'team_1', teamName: 't' }
const A_TEAMMATE: Principal = { id: 'key_c', name: 'carol', teamId: 'team_1', teamName: 't' }

/** What the fake upstream answers: a buffered JSON body, or SSE / piped chunks. */
interface Script { status?: number, json?: unknown, chunks?: string[], kind?: 'sse' | 'piped' }

/** A terminal dispatch that answers from a script and remembers what reached it. */
function fakeUpstream (script: (r: GatewayRequest) => Script): { dispatch: Dispatch, received: GatewayRequest[] } {
  const received: GatewayRequest[] = []
  const dispatch: Dispatch = (request, handler) => {
    received.push(request)
    const s = script(request)
    const c = new LocalController()
    handler.onRequestStart(c)
    setImmediate(() => {
      const status = s.status ?? 200
      if (s.chunks !== undefined) {
        handler.onResponseStart(c, { status, headers: {}, kind: s.kind ?? 'sse' })
        for (const chunk of s.chunks) handler.onResponseData(c, Buffer.from(chunk))
      } else {
        const body = Buffer.from(JSON.stringify(s.json ?? {}))
        handler.onResponseStart(c, { status, headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, kind: 'buffered', body })
      }
      handler.onResponseEnd(c, { outcome: 'ok' })
    })
  }
  return { dispatch, received }
}

interface Answer { head?: ResponseHead, data: string, error?: GatewayError, json?: any, order: string[] }

function send (dispatch: Dispatch, principal: Principal, method: string, path: string, json?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  const request: GatewayRequest = {
    id: 'req_' + Math.random(),
    method,
    route: '/v1' + path.split('?')[0],
    path,
    headers,
    startedAt: performance.now(),
    principal,
    body: json === undefined ? undefined : Buffer.from(JSON.stringify(json)),
    json,
    model: json?.model as string | undefined,
    stream: json?.stream === true
  }
  return new Promise((resolve) => {
    const answer: Answer = { data: '', order: [] }
    const handler: ResponseHandler = {
      onRequestStart () {},
      onResponseStart (_c, head) {
        answer.head = head
        answer.order.push('start')
        if (head.body !== undefined) answer.json = JSON.parse(head.body.toString())
      },
      onResponseData (_c, chunk) { answer.data += chunk.toString(); answer.order.push('data') },
      onResponseEnd () { answer.order.push('end'); resolve(answer) },
      onResponseError (_c, error) { answer.error = error; answer.order.push('error'); resolve(answer) }
    }
    dispatch(request, handler)
  })
}

describe('ownership interceptor (fake upstream)', () => {
  let dir: string
  let db: SqliteDb
  let store: OwnershipStore
  let records: UsageRecord[]
  let lookups: number

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'comet-own-'))
    db = openSqlite(dir)
    const real = createSqliteOwnershipStore(db)
    lookups = 0
    // The real store, with its lookups counted.
    store = { ...real, kind: real.kind, lookup: (ids) => { lookups++; return real.lookup(ids) }, record: (o) => real.record(o), listByOwner: (q) => real.listByOwner(q), remove: (id) => real.remove(id), prune: (c, b, l) => real.prune(c, b, l), raiseBilled: (b, u) => real.raiseBilled(b, u), ready: () => real.ready(), close: () => real.close() }
    records = []
  })
  afterEach(() => {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  function gateway (script: (r: GatewayRequest) => Script): { dispatch: Dispatch, received: GatewayRequest[] } {
    const upstream = fakeUpstream(script)
    const billing = new BatchBilling({ store, prices: createPriceTable({}), onRecord: (r) => { records.push(r) }, log })
    return { dispatch: compose(upstream.dispatch, ownershipInterceptor({ store, billing, log })), received: upstream.received }
  }

  it('a file belongs to its creator and its team; others and unknown ids get 404, not relayed', async () => {
    const g = gateway((r) => r.method === 'POST' ? { json: { id: 'file-1', object: 'file' } } : { json: { id: 'file-1', object: 'file' } })
    const created = await send(g.dispatch, A_TEAM, 'POST', '/files')
    expect(created.json.id).toBe('file-1')

    const denied = await send(g.dispatch, B, 'GET', '/files/file-1')
    expect(denied.error?.status).toBe(404)
    expect(denied.error?.toJSON().error).toMatchObject({ code: 'not_found', message: 'No such File object: file-1' })
    const unknown = await send(g.dispatch, A_TEAM, 'GET', '/files/file-never')
    // Exactly the answer of a foreign id: nothing tells the two apart.
    expect(unknown.error?.status).toBe(404)
    expect(unknown.error?.toJSON().error).toEqual({ ...denied.error?.toJSON().error, message: 'No such File object: file-never' })
    expect((await send(g.dispatch, B, 'GET', '/Files/file-1')).error?.status).toBe(404)
    expect((await send(g.dispatch, B, 'GET', '/%66iles/file-1/content')).error?.status).toBe(404)
    expect(g.received.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /files'])

    expect((await send(g.dispatch, A_TEAM, 'GET', '/files/file-1/content')).head?.status).toBe(200)
    expect((await send(g.dispatch, A_TEAMMATE, 'DELETE', '/files/file-1')).head?.status).toBe(200)
    expect(g.received).toHaveLength(3)
    // Deleted: forgotten.
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect((await send(g.dispatch, A_TEAM, 'GET', '/files/file-1')).error?.status).toBe(404)
  })

  it('the id is recorded before the client sees the creation answer', async () => {
    const g = gateway(() => ({ json: { id: 'vs_1', object: 'vector_store' } }))
    const created = await send(g.dispatch, A, 'POST', '/vector_stores', { name: 'docs' })
    expect(created.order).toEqual(['start', 'end'])
    expect((await store.lookup(['vs_1'])).get('vs_1')).toMatchObject({ collection: 'vector_stores', ownerKeyId: 'key_a', ownerKeyName: 'alice', ownerTeamId: null })
  })

  it('body references to objects the key does not own are 404 with param, never relayed', async () => {
    const g = gateway((r) => ({ json: { id: r.path === '/files' ? 'file-a' : 'resp_a', object: 'x' } }))
    await send(g.dispatch, A, 'POST', '/files')
    await send(g.dispatch, A, 'POST', '/responses', { model: 'm', input: 'hi' })
    expect(g.received).toHaveLength(2)

    const prev = await send(g.dispatch, B, 'POST', '/responses', { model: 'm', input: 'x', previous_response_id: 'resp_a' })
    expect(prev.error?.toJSON().error).toMatchObject({ code: 'not_found', param: 'previous_response_id' })
    const file = await send(g.dispatch, B, 'POST', '/chat/completions', { model: 'm', messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-a' } }] }] })
    expect(file.error?.toJSON().error).toMatchObject({ code: 'not_found', param: 'messages[0].content[0].file.file_id' })
    const batch = await send(g.dispatch, B, 'POST', '/batches', { input_file_id: 'file-a', endpoint: '/v1/chat/completions', completion_window: '24h' })
    expect(batch.error?.toJSON().error.param).toBe('input_file_id')
    // A wrong kind of object is not a reference either (a response id as a file id).
    const kind = await send(g.dispatch, A, 'POST', '/responses', { model: 'm', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'resp_a' }] }] })
    expect(kind.error?.toJSON().error.param).toBe('input[0].content[0].file_id')
    expect(g.received).toHaveLength(2)

    // The owner's own references pass.
    expect((await send(g.dispatch, A, 'POST', '/responses', { model: 'm', input: 'x', previous_response_id: 'resp_a', tools: [] })).head?.status).toBe(200)
  })

  it('lists show only the caller\'s items, cursors consistent; empty pages are followed', async () => {
    await store.record(['file-a1', 'file-a2'].map((id, i) => ({ id, collection: 'files' as const, ownerKeyId: 'key_a', ownerKeyName: 'alice', ownerTeamId: null, parentId: null, createdAt: i })))
    await store.record([{ id: 'file-b1', collection: 'files', ownerKeyId: 'key_b', ownerKeyName: 'bob', ownerTeamId: null, parentId: null, createdAt: 5 }])
    const pages: Record<string, unknown> = {
      '': { object: 'list', data: [{ id: 'file-b1' }, { id: 'file-x' }], first_id: 'file-b1', last_id: 'file-x', has_more: true },
      'file-x': { object: 'list', data: [{ id: 'file-a1' }, { id: 'file-b1' }, { id: 'file-a2' }, { id: 'file-y' }], first_id: 'file-a1', last_id: 'file-y', has_more: false }
    }
    const g = gateway((r) => ({ json: pages[new URLSearchParams(r.path.split('?')[1] ?? '').get('after') ?? ''] }))
    const listed = await send(g.dispatch, A, 'GET', '/files?limit=2')
    expect(listed.json).toEqual({ object: 'list', data: [{ id: 'file-a1' }, { id: 'file-a2' }], first_id: 'file-a1', last_id: 'file-a2', has_more: false })
    expect(g.received.map((r) => r.path)).toEqual(['/files?limit=2', '/files?limit=2&after=file-x'])
    expect(listed.head?.headers['content-length']).toBe(String(Buffer.byteLength(JSON.stringify(listed.json))))

    const bob = await send(g.dispatch, B, 'GET', '/files')
    expect(bob.json.data).toEqual([{ id: 'file-b1' }])
  })

  it('a streamed response\'s id is recorded before its first event reaches the client', async () => {
    const first = 'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_s","status":"in_progress"}}\n\n'
    const g = gateway(() => ({ chunks: [first.slice(0, 30), first.slice(30), 'event: response.completed\ndata: {}\n\n'] }))
    let seenAtFirstChunk: boolean | undefined
    const dispatch: Dispatch = (request, handler) => g.dispatch(request, {
      ...handler,
      onRequestStart: (c) => handler.onRequestStart(c),
      onResponseStart: (c, h) => handler.onResponseStart(c, h),
      onResponseData: (c, chunk) => {
        if (seenAtFirstChunk === undefined) {
          // Asked when the first byte reaches the client side: the store already has the id.
          seenAtFirstChunk = false
          store.lookup(['resp_s']).then((m) => { seenAtFirstChunk = m.has('resp_s') }, () => {})
        }
        handler.onResponseData(c, chunk)
      },
      onResponseEnd: (c, e) => handler.onResponseEnd(c, e),
      onResponseError: (c, e) => handler.onResponseError(c, e)
    })
    const streamed = await send(dispatch, A, 'POST', '/responses', { model: 'm', input: 'hi', stream: true })
    expect(streamed.data).toBe(first + 'event: response.completed\ndata: {}\n\n')
    expect(streamed.order).toEqual(['start', 'data', 'data', 'data', 'end'])
    expect(seenAtFirstChunk).toBe(true)
    expect((await send(g.dispatch, A, 'GET', '/responses/resp_s')).error).toBeUndefined()
    expect((await send(g.dispatch, B, 'GET', '/responses/resp_s')).error?.status).toBe(404)
  })

  it('chat completions are recorded only when stored; store: false responses are not', async () => {
    const g = gateway((r) => ({ json: { id: r.path.startsWith('/chat') ? (r.json?.store === true ? 'chatcmpl-s' : 'chatcmpl-n') : 'resp_n', object: 'x' } }))
    await send(g.dispatch, A, 'POST', '/chat/completions', { model: 'm', messages: [], store: true })
    await send(g.dispatch, A, 'POST', '/chat/completions', { model: 'm', messages: [] })
    await send(g.dispatch, A, 'POST', '/responses', { model: 'm', input: 'x', store: false })
    const known = await store.lookup(['chatcmpl-s', 'chatcmpl-n', 'resp_n'])
    expect([...known.keys()]).toEqual(['chatcmpl-s'])
  })

  it('a batch is billed to its creator once, at batch price, from the batch object or its output file', async () => {
    const usage = { input_tokens: 1000, input_tokens_details: { cached_tokens: 0 }, output_tokens: 100, output_tokens_details: { reasoning_tokens: 0 } }
    const outputLine = (n: number): string => JSON.stringify({ id: 'b' + n, custom_id: 'c' + n, response: { status_code: 200, body: { model: 'gpt-5.2-chat-latest', usage: { prompt_tokens: 500, completion_tokens: 50 } } } }) + '\n'
    const g = gateway((r) => {
      if (r.path === '/batches') return { json: { id: 'batch_1', object: 'batch', status: 'validating', input_file_id: 'file-in', output_file_id: null } }
      if (r.path === '/files') return { json: { id: 'file-in', object: 'file' } }
      if (r.path.startsWith('/files/file-out/content')) return { chunks: [outputLine(1), outputLine(2).slice(0, 10), outputLine(2).slice(10)], kind: 'piped' }
      return { json: { id: 'batch_1', object: 'batch', status: 'completed', model: 'gpt-5.2-chat-latest', output_file_id: 'file-out', error_file_id: null, usage } }
    })
    await send(g.dispatch, A, 'POST', '/files')
    expect((await send(g.dispatch, A, 'POST', '/batches', { input_file_id: 'file-in', endpoint: '/v1/chat/completions', completion_window: '24h' })).head?.status).toBe(200)
    // Another key can neither see the batch nor read its results.
    expect((await send(g.dispatch, B, 'GET', '/batches/batch_1')).error?.status).toBe(404)

    await send(g.dispatch, A, 'GET', '/batches/batch_1')
    await send(g.dispatch, A, 'GET', '/batches/batch_1')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ keyId: 'key_a', keyName: 'alice', model: 'gpt-5.2-chat-latest', inputTokens: 1000, outputTokens: 100, priced: true })
    // 1000 × $1.40/M + 100 × $11.20/M (no batch rates in the table: the ordinary price).
    expect(records[0]!.costNanos).toBe(2_520_000)

    // The output file became the batch owner's; reading it adds nothing already billed.
    expect((await send(g.dispatch, B, 'GET', '/files/file-out/content')).error?.status).toBe(404)
    const content = await send(g.dispatch, A, 'GET', '/files/file-out/content', undefined, { range: 'bytes=0-10' })
    expect(content.data).toBe(outputLine(1) + outputLine(2))
    expect(g.received.at(-1)?.headers.range).toBeUndefined()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(records).toHaveLength(1)
  })

  it('without usage on the batch object, reading the output file bills it once', async () => {
    const outputLine = JSON.stringify({ response: { status_code: 200, body: { model: 'gpt-5.2-chat-latest', usage: { prompt_tokens: 500, completion_tokens: 50 } } } }) + '\n'
    const g = gateway((r) => {
      if (r.path.startsWith('/files/file-out/content')) return { chunks: [outputLine, outputLine], kind: 'piped' }
      return { json: { id: 'batch_2', object: 'batch', status: 'completed', output_file_id: 'file-out' } }
    })
    await store.record([{ id: 'batch_2', collection: 'batches', ownerKeyId: 'key_a', ownerKeyName: 'alice', ownerTeamId: 'team_1', parentId: null, createdAt: 1 }])
    await send(g.dispatch, A_TEAMMATE, 'GET', '/batches/batch_2')
    expect(records).toHaveLength(0)
    await send(g.dispatch, A_TEAMMATE, 'GET', '/files/file-out/content')
    await send(g.dispatch, A_TEAMMATE, 'GET', '/files/file-out/content')
    await new Promise((resolve) => setTimeout(resolve, 20))
    // Billed to the creator, not the teammate who read it.
    expect(records.map((r) => [r.keyId, r.inputTokens, r.outputTokens])).toEqual([['key_a', 1000, 100]])
  })

  it('routes that name no objects never touch the store', async () => {
    const g = gateway(() => ({ json: { data: [] } }))
    await send(g.dispatch, A, 'POST', '/embeddings', { model: 'm', input: [{ file_id: 'not-a-ref-here' }] })
    await send(g.dispatch, A, 'GET', '/models')
    await send(g.dispatch, A, 'POST', '/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] })
    expect(lookups).toBe(0)
    expect(g.received).toHaveLength(3)
  })

  it('a store failure is 503 and nothing is relayed (fails closed)', async () => {
    const g = gateway(() => ({ json: {} }))
    db.close()
    const r = await send(g.dispatch, A, 'GET', '/files/file-1')
    expect(r.error?.status).toBe(503)
    expect(r.error?.toJSON().error.code).toBe('store_unavailable')
    expect(g.received).toHaveLength(0)
    db = openSqlite(dir)
  })

  it('too many references are 400', async () => {
    const g = gateway(() => ({ json: {} }))
    const r = await send(g.dispatch, A, 'POST', '/vector_stores', { file_ids: Array.from({ length: 2001 }, (_, i) => 'file-' + i) })
    expect(r.error?.status).toBe(400)
    expect(r.error?.param).toBe('file_ids[2000]')
    expect(g.received).toHaveLength(0)
  })
})
