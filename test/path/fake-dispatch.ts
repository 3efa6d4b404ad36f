import { Writable } from 'node:stream'
import { keyPrincipal, type KeyPrincipal } from '../../src/auth/principal.js'
import { keyRecordSchema, type KeyRecord } from '../../src/auth/key-record.js'
import type { GatewayError } from '../../src/errors.js'
import { createLogger } from '../../src/log.js'
import { LocalController, type Controller, type Dispatch, type GatewayRequest, type ResponseEnd, type ResponseHandler, type ResponseHead } from '../../src/proxy/interceptor.js'

/**
 * A fake terminal for interceptor tests, as undici tests its handlers: each request is
 * kept with its handler and controller, and the test drives the answer by hand.
 */
export class FakeUpstream {
  readonly calls: Array<{ req: GatewayRequest<KeyPrincipal>, handler: ResponseHandler, ctrl: LocalController }> = []

  readonly dispatch: Dispatch<KeyPrincipal> = (req, handler) => {
    const ctrl = new LocalController()
    handler.onRequestStart(ctrl)
    this.calls.push({ req, handler, ctrl })
  }

  last (): { req: GatewayRequest<KeyPrincipal>, handler: ResponseHandler, ctrl: LocalController } {
    return this.calls.at(-1)!
  }

  /** Answers the last request with a whole JSON body. */
  json (status: number, body: unknown, headers: Record<string, string> = {}): void {
    const c = this.last()
    c.handler.onResponseStart(c.ctrl, { status, headers: { 'content-type': 'application/json', ...headers }, kind: 'buffered', body: Buffer.from(JSON.stringify(body)), ttfbMs: 1 })
    c.handler.onResponseEnd(c.ctrl, { outcome: 'ok' })
  }

  /** Starts an SSE answer on call `i`; then `chunk` and `end`. */
  sse (i = this.calls.length - 1, headers: Record<string, string> = {}): void {
    const c = this.calls[i]!
    // The terminal hands the upstream's request id on in the head, not in the client's headers.
    const upstreamRequestId = headers['x-request-id']
    c.handler.onResponseStart(c.ctrl, { status: 200, headers: { 'content-type': 'text/event-stream', ...headers }, kind: 'sse', ttfbMs: 1, ...(upstreamRequestId !== undefined ? { upstreamRequestId } : {}) })
  }

  chunk (text: string, i = this.calls.length - 1): void {
    const c = this.calls[i]!
    c.handler.onResponseData(c.ctrl, Buffer.from(text))
  }

  end (end: ResponseEnd = { outcome: 'ok' }, i = this.calls.length - 1): void {
    const c = this.calls[i]!
    c.handler.onResponseEnd(c.ctrl, end)
  }
}

/** The client side: keeps every call it gets. */
export class Collector implements ResponseHandler {
  ctrl: Controller | undefined
  head: ResponseHead | undefined
  readonly chunks: Buffer[] = []
  end: ResponseEnd | undefined
  error: GatewayError | undefined
  private readonly waiters: Array<() => void> = []

  onRequestStart (controller: Controller): void { this.ctrl = controller }
  onResponseStart (_c: Controller, head: ResponseHead): void { this.head = head }
  onResponseData (_c: Controller, chunk: Buffer): void { this.chunks.push(chunk) }
  onResponseEnd (_c: Controller, end: ResponseEnd): void {
    this.end = end
    this.done()
  }

  onResponseError (_c: Controller, error: GatewayError): void {
    this.error = error
    this.done()
  }

  /** The body the client got (buffered or streamed). */
  text (): string {
    return this.head?.body !== undefined ? this.head.body.toString() : Buffer.concat(this.chunks).toString()
  }

  /** Resolves once the answer is over. */
  finished (): Promise<void> {
    if (this.end !== undefined || this.error !== undefined) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  private done (): void {
    for (const w of this.waiters.splice(0)) w()
  }
}

export function testKey (fields: Partial<KeyRecord> = {}): KeyRecord {
  return keyRecordSchema.parse({ id: 'key_1', name: 'test', key_prefix: 'sk-test', created_at: '2026-01-01T00:00:00Z', ...fields })
}

let n = 0
/** A request as proxy/plugin.ts builds it. */
export function gatewayRequest (fields: Partial<GatewayRequest<KeyPrincipal>> & { json?: Record<string, unknown> } = {}): GatewayRequest<KeyPrincipal> {
  const json = fields.json
  return {
    id: `req_${++n}`,
    method: 'POST',
    route: '/v1/chat/completions',
    path: '/chat/completions',
    headers: {},
    startedAt: performance.now(),
    principal: keyPrincipal(testKey()),
    body: json !== undefined ? Buffer.from(JSON.stringify(json)) : undefined,
    model: typeof json?.model === 'string' ? json.model : undefined,
    stream: json?.stream === true,
    ...fields,
    json
  }
}

/** A logger that keeps its lines. */
export function captureLog (): { log: ReturnType<typeof createLogger>, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb() } })
  return { log: createLogger('info', sink), lines }
}

export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
