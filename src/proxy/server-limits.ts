import type { ServerOptions, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Transform, type Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { GatewayConfig } from '../config/schema.js'
import { gatewayError, type GatewayError } from '../errors.js'
import { ParsingBudget, ParsingClaim } from './json-bounds.js'

/**
 * The limits of the client-facing HTTP server: how long a request may take to arrive,
 * how long an idle connection stays, what a client gets when Node's HTTP parser refuses
 * its bytes, and how many bytes of bodies are read and parsed at once.
 */

/** Headers are a few KiB a legitimate client sends at once; a trickle of them is an attack. */
const MAX_HEADERS_TIMEOUT_MS = 30_000

export interface ServerLimitOptions {
  readonly requestTimeout: number
  readonly keepAliveTimeout: number
  readonly http: ServerOptions
  readonly clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => void
}

/**
 * Fastify's server options for the limits. Node's `requestTimeout` runs until the request
 * is fully received, so a streamed answer of any length is not cut by it. Node looks for
 * late requests every `connectionsCheckingInterval` (30 s by default, far longer than a
 * short timeout): a tenth of the headers timeout, within 100 ms–1 s, keeps them on time.
 * @example Fastify({ ...serverLimitOptions(config), bodyLimit: config.MAX_BODY_BYTES })
 */
export function serverLimitOptions (config: Pick<GatewayConfig, 'REQUEST_TIMEOUT_MS' | 'KEEP_ALIVE_TIMEOUT_MS'>): ServerLimitOptions {
  const requestTimeout = config.REQUEST_TIMEOUT_MS
  const headersTimeout = Math.min(requestTimeout, MAX_HEADERS_TIMEOUT_MS)
  return {
    requestTimeout,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    http: {
      requestTimeout,
      headersTimeout,
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 10)))
    },
    clientErrorHandler: answerClientError
  }
}

/** Node's client error codes → the catalogue; anything else the parser refuses is 400. */
const clientErrors: Record<string, () => GatewayError> = {
  HPE_HEADER_OVERFLOW: () => gatewayError('GW_ERR_HEADERS_TOO_LARGE'),
  ERR_HTTP_REQUEST_TIMEOUT: () => gatewayError('GW_ERR_REQUEST_TIMEOUT')
}

const REASONS: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }

/** The catalogue error for a code of Node's `clientError`. */
export function clientError (code: string | undefined): GatewayError {
  return (code !== undefined ? clientErrors[code] : undefined)?.() ?? gatewayError('GW_ERR_BAD_REQUEST', ['The request is not valid HTTP/1.1.'])
}

/** The whole HTTP/1.1 answer for a client error, written on the socket itself (there is no response object). */
export function clientErrorResponse (error: GatewayError): string {
  const body = JSON.stringify(error.toJSON())
  const head = [`HTTP/1.1 ${error.status} ${REASONS[error.status] ?? 'Error'}`, 'content-type: application/json', `content-length: ${Buffer.byteLength(body)}`, 'connection: close']
  for (const [k, v] of Object.entries(error.headers)) head.push(`${k}: ${v}`)
  return head.join('\r\n') + '\r\n\r\n' + body
}

/** Sockets already answered: Node reports a broken parser again for every later chunk. */
const answered = new WeakSet<Socket>()

/**
 * The server's `clientError` listener: answers in OpenAI's shape when the socket can
 * still take an answer (writable, and no response of ours has started on it), then
 * closes the connection. A socket that never sent a byte (an idle connection past the
 * headers timeout) is closed without an answer. Never throws: it runs outside any request.
 */
export function answerClientError (err: Error & { code?: string }, socket: Socket): void {
  try {
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
    const canAnswer = err.code !== 'ECONNRESET' && !socket.destroyed && socket.writable &&
      socket.bytesRead > 0 && inFlight?.headersSent !== true && !answered.has(socket)
    if (!canAnswer) { socket.destroy(); return }
    answered.add(socket)
    const error = clientError(err.code)
    const close = (): void => {
      clearTimeout(timer)
      // A request still reading its body fails with the same error, so its log line says what the client got.
      if (inFlight?.req !== undefined && !inFlight.req.complete) inFlight.req.destroy(error)
      socket.destroy()
    }
    // Once the answer is handed to the kernel, or soon if the peer reads nothing.
    const timer = setTimeout(close, 1_000)
    timer.unref()
    socket.write(clientErrorResponse(error), close)
  } catch {
    socket.destroy()
  }
}

/** Bodies this small are never refused for the budget (a typical chat request is a few KiB). */
export const SMALL_BODY_BYTES = 64 * 1024

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's share of the parsing budget, while its body is read. */
    parsingClaim: ParsingClaim | undefined
  }
}

/**
 * At most `limit` bytes of request bodies being read and parsed at once in this app:
 * a preParsing hook of the scope it is added to (inside authentication, so an
 * unauthenticated request never costs budget) claims the declared content-length
 * before a byte is read, or a chunked body's bytes as they arrive; beyond the budget the
 * request is 503 `overloaded` with retry-after. The claim is released once the body is
 * handed to the route (the JSON parse follows in the same turn) or when the response
 * closes, whichever is first. Bodies up to `SMALL_BODY_BYTES` are not counted: they
 * cost next to nothing, and large bodies filling the budget must not turn away every
 * ordinary request. `bodyLimit` is Fastify's: a larger declared body is 413 before it
 * is read, so it claims nothing.
 * @example await app.register(async (v1) => { limitParsing(v1, config.MAX_PARSING_BYTES, config.MAX_BODY_BYTES) })
 */
export function limitParsing (scope: FastifyInstance, limit: number, bodyLimit: number): ParsingBudget {
  const budget = new ParsingBudget(limit)
  scope.decorateRequest('parsingClaim', undefined)
  scope.addHook('preParsing', (request, reply, payload, done) => {
    const chunked = request.headers['transfer-encoding'] !== undefined
    const declared = chunked ? 0 : Number(request.headers['content-length'])
    if (!chunked && !(declared > SMALL_BODY_BYTES && declared <= bodyLimit)) { done(null, payload); return }
    const claim = new ParsingClaim(budget)
    request.parsingClaim = claim
    reply.raw.once('close', () => { claim.release() })
    if (chunked) { done(null, counted(payload, claim)); return }
    if (!claim.take(declared)) { done(gatewayError('GW_ERR_PARSING_BUSY')); return }
    done(null, payload)
  })
  scope.addHook('preValidation', (request, _reply, done) => {
    request.parsingClaim?.release()
    done()
  })
  return budget
}

/**
 * A chunked body that claims its bytes as they arrive, all of them once it is past
 * `SMALL_BODY_BYTES`. Over the budget it fails with 503 and stops passing bytes on; the
 * rest of the body is read and dropped by Node, so the answer still reaches the client.
 */
function counted (payload: Readable, claim: ParsingClaim): Readable {
  let seen = 0
  const out = new Transform({
    transform (chunk: Buffer, _enc, callback) {
      seen += chunk.length
      const claimNow = seen <= SMALL_BODY_BYTES ? 0 : claim.bytes === 0 ? seen : chunk.length
      if (claimNow === 0 || claim.take(claimNow)) { callback(null, chunk); return }
      payload.unpipe(out)
      payload.resume()
      callback(gatewayError('GW_ERR_PARSING_BUSY'))
    }
  })
  payload.once('error', (err) => out.destroy(err))
  return payload.pipe(out)
}
