import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chatAnswer, DEFAULT_TOOL_CALL, pieces, responsesAnswer, type MockAnswer } from './answers.js'

/**
 * A mock of CometAPI that speaks the OpenAI wire format: chat completions and the
 * Responses API (stream and not, usage with cached and reasoning tokens), models,
 * embeddings and the `/responses/{id}` family. Used by the tests, `npm run demo` and the
 * benchmarks. Tests script single answers with `once()` and read `requests`.
 *
 * Chat and Responses requests with function `tools` get one tool call, then (once the last
 * input is the tool's result) a final answer; `response_format` / `text.format` with a JSON
 * schema get an answer that satisfies it (see answers.ts). Requests without them get the
 * fixed word sequence the tests and benchmarks count on.
 */

export interface MockUsage {
  input: number
  cached: number
  output: number
  reasoning: number
}

export interface MockOptions {
  /** Content chunks per streamed answer (default 5). */
  chunks?: number
  /** Milliseconds between streamed events (default 0). */
  chunkDelayMs?: number
  /** Milliseconds before the response headers (default 0). */
  latencyMs?: number
  /** Usage reported for every answer (default 1000 in / 600 cached, 500 out / 200 reasoning). */
  usage?: MockUsage
  /** The bearer token the mock wants (default: any). */
  apiKey?: string
}

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: Buffer
  /** Set when the connection closed before the answer ended (the gateway aborted). */
  aborted: boolean
}

/** A test's handler for the next request(s); write the answer to `res` yourself. */
export type MockHandler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void | Promise<void>

export interface MockUpstream {
  readonly url: string
  /** Base URL with `/v1`, for UPSTREAM_BASE_URL. */
  readonly baseUrl: string
  readonly server: Server
  readonly requests: RecordedRequest[]
  options: Required<Omit<MockOptions, 'apiKey'>> & { apiKey?: string }
  /** Answer the next matching request with `handler` (FIFO). */
  once (handler: MockHandler): void
  close (): Promise<void>
}

export const DEFAULT_USAGE: MockUsage = { input: 1000, cached: 600, output: 500, reasoning: 200 }
const WORDS = ['Hello', ' from', ' the', ' mock', ' upstream', ',', ' streamed', ' token', ' by', ' token', '.']

export function chatUsage (u: MockUsage) {
  return {
    prompt_tokens: u.input,
    completion_tokens: u.output,
    total_tokens: u.input + u.output,
    prompt_tokens_details: { cached_tokens: u.cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
  }
}

export function responsesUsage (u: MockUsage) {
  return {
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cached },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: u.input + u.output
  }
}

function words (n: number): string[] {
  return Array.from({ length: n }, (_, i) => WORDS[i % WORDS.length]!)
}

/** The default answer's text: `chunks` words of the fixed sequence. */
export function mockText (chunks: number): string {
  return words(chunks).join('')
}

/** The stream pieces of a text answer: the fixed words for the default one. */
function textPieces (answer: MockAnswer, chunks: number): string[] {
  if (answer.kind !== 'text') return []
  return answer.text === mockText(chunks) ? words(chunks) : pieces(answer.text, chunks)
}

/** `true` (old callers) means the fixed get_weather call; `false`, the default text. */
function answerOf (answer: boolean | MockAnswer, chunks: number): MockAnswer {
  if (answer === true) return DEFAULT_TOOL_CALL
  if (answer === false) return { kind: 'text', text: mockText(chunks) }
  return answer
}

/** The events of a chat completion stream, each a complete `data: …\n\n` string. */
export function chatStreamEvents (model: string, chunks: number, usage: MockUsage | undefined, answerOrTool: boolean | MockAnswer = false): string[] {
  const answer = answerOf(answerOrTool, chunks)
  const toolCall = answer.kind === 'tool'
  const base = { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1767225600, model, system_fingerprint: 'fp_mock' }
  const nul = usage !== undefined ? { usage: null } : {}
  const ev = (o: unknown): string => `data: ${JSON.stringify(o)}\n\n`
  const out = [ev({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], ...nul })]
  if (answer.kind === 'tool') {
    out.push(ev({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: answer.callId, type: 'function', function: { name: answer.name, arguments: '' } }] }, logprobs: null, finish_reason: null }], ...nul }))
    for (const part of pieces(answer.arguments, 3)) {
      out.push(ev({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: part } }] }, logprobs: null, finish_reason: null }], ...nul }))
    }
  } else {
    for (const w of textPieces(answer, chunks)) out.push(ev({ ...base, choices: [{ index: 0, delta: { content: w }, logprobs: null, finish_reason: null }], ...nul }))
  }
  out.push(ev({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: toolCall ? 'tool_calls' : 'stop' }], ...nul }))
  if (usage !== undefined) out.push(ev({ ...base, choices: [], usage: chatUsage(usage) }))
  out.push('data: [DONE]\n\n')
  return out
}

export function chatCompletion (model: string, chunks: number, usage: MockUsage, answerOrTool: boolean | MockAnswer = false) {
  const answer = answerOf(answerOrTool, chunks)
  const message = answer.kind === 'tool'
    ? { role: 'assistant', content: null, tool_calls: [{ id: answer.callId, type: 'function', function: { name: answer.name, arguments: answer.arguments } }], refusal: null, annotations: [] }
    : { role: 'assistant', content: answer.text, refusal: null, annotations: [] }
  return {
    id: 'chatcmpl-mock',
    object: 'chat.completion',
    created: 1767225600,
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: answer.kind === 'tool' ? 'tool_calls' : 'stop' }],
    usage: chatUsage(usage),
    service_tier: 'default',
    system_fingerprint: 'fp_mock'
  }
}

/** The output item of an answer, as `response.output_item.done` and the final response carry it. */
function outputItem (answer: MockAnswer, status: string) {
  if (answer.kind === 'tool') return { id: 'fc_mock', type: 'function_call', status, call_id: answer.callId, name: answer.name, arguments: answer.arguments }
  return { id: 'msg_mock', type: 'message', status, role: 'assistant', content: [{ type: 'output_text', text: answer.text, annotations: [] }] }
}

/** A response object; one still `in_progress` or `queued` has no output yet, as upstream's. */
export function responseObject (model: string, textOrAnswer: string | MockAnswer, usage: MockUsage | null, status = 'completed') {
  const answer: MockAnswer = typeof textOrAnswer === 'string' ? { kind: 'text', text: textOrAnswer } : textOrAnswer
  return {
    id: 'resp_mock',
    object: 'response',
    created_at: 1767225600,
    status,
    model,
    output: status === 'in_progress' || status === 'queued' ? [] : [outputItem(answer, status)],
    usage: usage === null ? null : responsesUsage(usage),
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null
  }
}

/** The events of a Responses API stream; `terminal` picks the last event's type. */
export function responsesStreamEvents (model: string, chunks: number, usage: MockUsage, terminal: 'completed' | 'incomplete' | 'failed' = 'completed', answer: MockAnswer = answerOf(false, chunks)): string[] {
  let seq = 0
  const ev = (type: string, o: Record<string, unknown>): string => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...o })}\n\n`
  const head = [
    ev('response.created', { response: responseObject(model, answer, null, 'in_progress') }),
    ev('response.in_progress', { response: responseObject(model, answer, null, 'in_progress') })
  ]
  if (answer.kind === 'tool') {
    const item = outputItem(answer, 'completed')
    const out = [...head, ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } })]
    for (const delta of pieces(answer.arguments, 3)) out.push(ev('response.function_call_arguments.delta', { item_id: item.id, output_index: 0, delta }))
    out.push(ev('response.function_call_arguments.done', { item_id: item.id, output_index: 0, name: answer.name, arguments: answer.arguments }))
    out.push(ev('response.output_item.done', { output_index: 0, item }))
    out.push(ev(`response.${terminal}`, { response: responseObject(model, answer, usage, terminal) }))
    return out
  }
  const ws = textPieces(answer, chunks)
  const text = ws.join('')
  const out = [
    ...head,
    ev('response.output_item.added', { output_index: 0, item: { id: 'msg_mock', type: 'message', status: 'in_progress', role: 'assistant', content: [] } }),
    ev('response.content_part.added', { item_id: 'msg_mock', output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } })
  ]
  for (const w of ws) out.push(ev('response.output_text.delta', { item_id: 'msg_mock', output_index: 0, content_index: 0, delta: w, logprobs: [] }))
  out.push(ev('response.output_text.done', { item_id: 'msg_mock', output_index: 0, content_index: 0, text, logprobs: [] }))
  out.push(ev('response.content_part.done', { item_id: 'msg_mock', output_index: 0, content_index: 0, part: { type: 'output_text', text, annotations: [] } }))
  out.push(ev('response.output_item.done', { output_index: 0, item: { id: 'msg_mock', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] } }))
  out.push(ev(`response.${terminal}`, { response: responseObject(model, text, usage, terminal) }))
  return out
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function sendJson (res: ServerResponse, status: number, body: unknown, requestId: string): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': requestId,
    'openai-processing-ms': '1',
    'x-ratelimit-limit-requests': '10000',
    'x-ratelimit-remaining-requests': '9999'
  })
  res.end(text)
}

async function sendEvents (res: ServerResponse, events: string[], delayMs: number, requestId: string): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': requestId })
  if (delayMs <= 0) {
    // One write per event, as real upstreams flush them.
    for (const e of events) res.write(e)
  } else {
    for (const e of events) {
      if (res.destroyed) return
      res.write(e)
      await sleep(delayMs)
    }
  }
  res.end()
}

/**
 * Starts the mock on 127.0.0.1 (`port` 0 = any free port).
 * @example const mock = await startMockUpstream({ chunks: 20 }); process.env.UPSTREAM_BASE_URL = mock.baseUrl
 */
export async function startMockUpstream (opts: MockOptions = {}, port = 0, host = '127.0.0.1'): Promise<MockUpstream> {
  const queue: MockHandler[] = []
  const requests: RecordedRequest[] = []
  let counter = 0
  const options = { chunks: 5, chunkDelayMs: 0, latencyMs: 0, usage: DEFAULT_USAGE, ...opts }

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const requestId = `req_mock_${++counter}`
    const record: RecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body, aborted: false }
    requests.push(record)
    res.on('close', () => { if (!res.writableFinished) record.aborted = true })
    const scripted = queue.shift()
    if (scripted !== undefined) return await scripted(req, body, res)
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendJson(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }, requestId)
    }
    if (options.latencyMs > 0) await sleep(options.latencyMs)
    const path = (req.url ?? '/').split('?')[0]!
    let json: Record<string, unknown> = {}
    if (body.length > 0 && (req.headers['content-type'] ?? '').includes('json')) {
      try {
        json = JSON.parse(body.toString('utf8')) as Record<string, unknown>
      } catch {
        return sendJson(res, 400, { error: { message: 'bad json', type: 'invalid_request_error', param: null, code: null } }, requestId)
      }
    }
    const model = typeof json.model === 'string' ? json.model : 'gpt-5.2-chat-latest'
    const u = options.usage
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      const answer = chatAnswer(json, mockText(options.chunks))
      if (json.stream === true) {
        const includeUsage = (json.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true
        return await sendEvents(res, chatStreamEvents(model, options.chunks, includeUsage ? u : undefined, answer), options.chunkDelayMs, requestId)
      }
      return sendJson(res, 200, chatCompletion(model, options.chunks, u, answer), requestId)
    }
    if (req.method === 'POST' && path === '/v1/responses') {
      const answer = responsesAnswer(json, mockText(options.chunks))
      if (json.stream === true) return await sendEvents(res, responsesStreamEvents(model, options.chunks, u, 'completed', answer), options.chunkDelayMs, requestId)
      return sendJson(res, 200, responseObject(model, answer, u), requestId)
    }
    if (req.method === 'POST' && path === '/v1/responses/compact') {
      return sendJson(res, 200, { id: 'cmp_mock', object: 'response.compaction', created_at: 1767225600, output: [], usage: responsesUsage(u) }, requestId)
    }
    if (req.method === 'POST' && path === '/v1/embeddings') {
      const vector = [0.1, 0.2, 0.3]
      // The openai SDK asks for base64 (little-endian float32) unless told otherwise.
      const embedding = json.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector
      return sendJson(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding }], model, usage: { prompt_tokens: u.input, total_tokens: u.input } }, requestId)
    }
    if (req.method === 'GET' && path === '/v1/models') {
      const ids = ['gpt-5.2-chat-latest', 'gpt-5.2', 'gpt-5-mini', 'gpt-4.1-nano', 'text-embedding-3-small']
      return sendJson(res, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 1767225600, owned_by: 'cometapi' })) }, requestId)
    }
    const model1 = /^\/v1\/models\/([^/]+)$/.exec(path)
    if (req.method === 'GET' && model1 !== null) {
      // Any model the mock is asked about exists: it answers chat for every name too.
      return sendJson(res, 200, { id: decodeURIComponent(model1[1]!), object: 'model', created: 1767225600, owned_by: 'cometapi' }, requestId)
    }
    const m = /^\/v1\/responses\/([^/]+)(\/cancel|\/input_items)?$/.exec(path)
    if (m !== null) {
      if (m[2] === '/input_items') return sendJson(res, 200, { object: 'list', data: [], first_id: null, last_id: null, has_more: false }, requestId)
      if (req.method === 'DELETE') return sendJson(res, 200, { id: m[1], object: 'response.deleted', deleted: true }, requestId)
      return sendJson(res, 200, { ...responseObject(model, words(options.chunks).join(''), u, m[2] === '/cancel' ? 'cancelled' : 'completed'), id: m[1] }, requestId)
    }
    return sendJson(res, 404, { error: { message: `Unknown request URL: ${req.method} ${path}`, type: 'invalid_request_error', param: null, code: 'unknown_url' } }, requestId)
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: String(err), type: 'server_error', param: null, code: null } }, 'req_mock_error')
        else res.destroy()
      })
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(port, host, resolve))
  const { port: bound } = server.address() as AddressInfo
  const url = `http://${host}:${bound}`
  return {
    url,
    baseUrl: `${url}/v1`,
    server,
    requests,
    options,
    once: (h) => { queue.push(h) },
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
