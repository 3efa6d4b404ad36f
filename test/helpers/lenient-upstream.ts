import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * An upstream that is as forgiving as the worst real one, so that a test can show the
 * gateway lets nothing through that such an upstream would serve:
 * - paths are decoded once and normalised (`\` → `/`, `;params` dropped, `//` collapsed,
 *   dot segments resolved), so `/v1/%2e%2e/admin` is served as `/admin`;
 * - bodies are read as JSON whatever their content-type, with the first of duplicate
 *   keys winning, and `"stream": "true"` or `1` streams;
 * - multipart bodies are read for their `model` field by a crude scan.
 * Every request is recorded with what the upstream made of it. Everything it serves
 * reports usage under the model it understood, so a test can match the gateway's meter.
 */

export interface LenientRequest {
  readonly method: string
  /** The target as it arrived. */
  readonly rawUrl: string
  /** What this upstream served: the normalised path, without query. */
  readonly path: string
  readonly headers: IncomingMessage['headers']
  readonly body: Buffer
  /** The body as this upstream read it (first-wins), when it read it as JSON. */
  readonly json: Record<string, unknown> | undefined
  readonly model: string | undefined
  readonly stream: boolean
  /** Answered by a test's `once` handler rather than by the upstream's own answers. */
  scripted: boolean
}

export interface LenientUpstream {
  readonly url: string
  readonly baseUrl: string
  readonly server: Server
  readonly requests: LenientRequest[]
  /** Answer the next request with this handler instead (FIFO). */
  once (handler: (req: LenientRequest, res: ServerResponse) => void): void
  close (): Promise<void>
}

export const LENIENT_USAGE = { input: 100, cached: 0, output: 50 }

/** Decode once, then resolve the path as a lax server would. */
export function lenientPath (rawUrl: string): string {
  let path = rawUrl.split('?')[0]!
  const abs = /^[a-z]+:\/\/[^/]*(\/.*)?$/i.exec(path)
  if (abs !== null) path = abs[1] ?? '/'
  try {
    path = decodeURIComponent(path)
  } catch {}
  path = path.replace(/\\/g, '/').replace(/;[^/]*/g, '').replace(/\0/g, '')
  const out: string[] = []
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') out.pop()
    else out.push(seg)
  }
  return '/' + out.join('/')
}

/** A JSON parser where the first of duplicate keys wins (as some upstreams do). */
export function parseFirstWins (text: string): unknown {
  let i = 0
  const ws = (): void => { while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++ }
  const value = (): unknown => {
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      const obj: Record<string, unknown> = {}
      ws()
      if (text[i] === '}') { i++; return obj }
      for (;;) {
        ws()
        const k = value() as string
        ws()
        if (text[i++] !== ':') throw new SyntaxError('expected :')
        const v = value()
        if (!Object.hasOwn(obj, k)) obj[k] = v
        ws()
        const n = text[i++]
        if (n === '}') return obj
        if (n !== ',') throw new SyntaxError('expected ,')
      }
    }
    if (c === '[') {
      i++
      const arr: unknown[] = []
      ws()
      if (text[i] === ']') { i++; return arr }
      for (;;) {
        arr.push(value())
        ws()
        const n = text[i++]
        if (n === ']') return arr
        if (n !== ',') throw new SyntaxError('expected ,')
      }
    }
    if (c === '"') {
      let j = i + 1
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      const s = JSON.parse(text.slice(i, j + 1)) as string
      i = j + 1
      return s
    }
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64))
    if (m === null) throw new SyntaxError('bad value')
    i += m[0].length
    return JSON.parse(m[0])
  }
  const v = value()
  ws()
  if (i !== text.length) throw new SyntaxError('trailing data')
  return v
}

function multipartModel (body: Buffer): string | undefined {
  const m = /name="model"\r\n\r\n([^\r]*)\r\n/.exec(body.toString('latin1'))
  return m?.[1]
}

function send (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': 'req_lenient', ...headers })
  res.end(text)
}

const chatUsage = { prompt_tokens: LENIENT_USAGE.input, completion_tokens: LENIENT_USAGE.output, total_tokens: LENIENT_USAGE.input + LENIENT_USAGE.output }
const respUsage = { input_tokens: LENIENT_USAGE.input, output_tokens: LENIENT_USAGE.output, total_tokens: LENIENT_USAGE.input + LENIENT_USAGE.output }

/** Answers what an OpenAI-compatible upstream would, for whatever path it understood. */
function serve (r: LenientRequest, res: ServerResponse): void {
  const model = r.model ?? 'lenient-default-model'
  if (r.path === '/v1/chat/completions') {
    if (r.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] })}\n\n`)
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: chatUsage })}\n\n`)
      res.end('data: [DONE]\n\n')
      return
    }
    return send(res, 200, { id: 'c1', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: chatUsage })
  }
  if (r.path === '/v1/responses') {
    return send(res, 200, { id: 'resp_lenient', object: 'response', created_at: 1, status: 'completed', model, output: [], usage: respUsage })
  }
  if (r.path === '/v1/embeddings') return send(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1] }], model, usage: { prompt_tokens: LENIENT_USAGE.input, total_tokens: LENIENT_USAGE.input } })
  if (r.path === '/v1/audio/transcriptions') return send(res, 200, { text: 'hello', usage: { type: 'tokens', input_tokens: LENIENT_USAGE.input, output_tokens: LENIENT_USAGE.output, total_tokens: LENIENT_USAGE.input + LENIENT_USAGE.output } })
  if (r.path === '/v1/images/edits') return send(res, 200, { created: 1, data: [], usage: respUsage })
  if (r.path === '/v1/models') return send(res, 200, { object: 'list', data: [{ id: 'gpt-5.2-chat-latest', object: 'model', created: 1, owned_by: 'lenient' }] })
  // Anything else is served too: a lenient upstream has admin and dashboard routes.
  return send(res, 200, { served: r.path, secret: 'account-data' })
}

/** @example const up = await startLenientUpstream(); startGateway({ UPSTREAM_BASE_URL: up.baseUrl }) */
export async function startLenientUpstream (): Promise<LenientUpstream> {
  const requests: LenientRequest[] = []
  const queue: Array<(req: LenientRequest, res: ServerResponse) => void> = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      let json: Record<string, unknown> | undefined
      try {
        const v = body.length > 0 ? parseFirstWins(body.toString('utf8')) : undefined
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>
      } catch {}
      const s = json?.stream
      const model = typeof json?.model === 'string' ? json.model : multipartModel(body)
      const r: LenientRequest = {
        method: req.method ?? 'GET',
        rawUrl: req.url ?? '/',
        path: lenientPath(req.url ?? '/'),
        headers: req.headers,
        body,
        json,
        model,
        stream: s === true || s === 'true' || s === 1 || s === '1',
        scripted: false
      }
      requests.push(r)
      const h = queue.shift()
      r.scripted = h !== undefined
      if (h !== undefined) h(r, res)
      else serve(r, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    baseUrl: `${url}/v1`,
    server,
    requests,
    once: (h) => { queue.push(h) },
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
