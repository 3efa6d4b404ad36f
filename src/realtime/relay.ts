import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import type { Principal } from '../proxy/interceptor.js'
import type { RealtimeSession } from './admission.js'
import { bearerToken, maskKey } from '../auth/authenticate.js'
import { GatewayError, gatewayError } from '../errors.js'
import { realtimeUsage, subprotocolKey, upstreamRealtimeUrl, upstreamSubprotocols } from './usage-tap.js'

export interface RealtimeOptions<P extends Principal> {
  /** The principal of a presented secret, or undefined (401). */
  readonly authenticate: (secret: string) => P | undefined | Promise<P | undefined>
  /** Checks the key's models and limits for the session; throws a GatewayError to refuse. */
  readonly admit: (principal: P, model: string | undefined, requestId: string, req: IncomingMessage, query: string) => Promise<RealtimeSession>
  readonly upstreamBaseUrl: string
  readonly upstreamAuthorization: string | undefined
  readonly log: Logger
  readonly newRequestId: (req: IncomingMessage) => string
  /** Milliseconds to open the upstream socket. */
  readonly connectTimeoutMs?: number
  /** Bytes queued towards one side before the other side is paused. */
  readonly highWaterBytes?: number
  /** Called when a session opens (+1) and closes (-1): drain accounting. */
  readonly onSession?: (delta: number) => void
}

const PATH = '/v1/realtime'

/** Close codes a peer may not send itself; the other side gets a normal or an error close instead. */
function sendableCode (code: number): number {
  if (code === 1005 || code === 1006 || code === 1015 || code < 1000 || code >= 5000) return code === 1005 ? 1000 : 1011
  return code
}

/** An HTTP answer on a socket that asked to upgrade, in OpenAI's error shape. */
function refuseUpgrade (socket: Duplex, error: GatewayError, requestId: string): void {
  if (socket.destroyed) return
  const body = JSON.stringify(error.toJSON())
  const headers = { ...error.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'x-request-id': requestId, connection: 'close' }
  const head = `HTTP/1.1 ${error.status} ${error.status === 401 ? 'Unauthorized' : error.status === 403 ? 'Forbidden' : error.status === 429 ? 'Too Many Requests' : 'Error'}\r\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n'
  socket.end(head + body)
}

/**
 * The Realtime API over WebSocket: `GET /v1/realtime?model=…` with an upgrade. The key
 * comes as `Authorization: Bearer` or as the `openai-insecure-api-key.<key>` subprotocol
 * the browser SDKs send; the key's models and limits are checked before anything goes
 * upstream. The upstream socket is opened with the upstream key first, so its refusal
 * reaches the client as an HTTP answer; then frames are relayed both ways unchanged, with
 * backpressure (a side whose peer has more than `highWaterBytes` queued is paused), and
 * the usage of each `response.done` is metered. Either side closing closes the other.
 * @example server.on('upgrade', realtimeUpgrade(options))
 */
export function realtimeUpgrade<P extends Principal> (opts: RealtimeOptions<P>): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024, handleProtocols: (offered) => pickProtocol(offered) })
  const high = opts.highWaterBytes ?? 1024 * 1024

  return (req, socket, head) => {
    const requestId = opts.newRequestId(req)
    socket.on('error', () => socket.destroy())
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const query = q === -1 ? '' : url.slice(q)
    if (path !== PATH && path !== PATH + '/') {
      refuseUpgrade(socket, gatewayError('GW_ERR_NOT_FOUND', ['GET', path]), requestId)
      return
    }
    handle(req, socket, head, requestId, query).catch((err: unknown) => {
      const error = err instanceof GatewayError ? err : gatewayError('GW_ERR_INTERNAL', [], { cause: err })
      if (error.status >= 500) opts.log.error({ reqId: requestId, err: error.cause ?? error }, error.message)
      refuseUpgrade(socket, error, requestId)
    })
  }

  async function handle (req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string, query: string): Promise<void> {
    const secret = bearerToken(req.headers.authorization) ?? subprotocolKey(req.headers['sec-websocket-protocol'])
    if (secret === undefined) throw gatewayError('GW_ERR_MISSING_API_KEY')
    const found = opts.authenticate(secret)
    const principal = found instanceof Promise ? await found : found
    if (principal === undefined) throw gatewayError('GW_ERR_INVALID_API_KEY', [maskKey(secret)])
    if (opts.upstreamAuthorization === undefined) throw gatewayError('GW_ERR_UPSTREAM_NOT_CONFIGURED')
    const model = new URLSearchParams(query).get('model') ?? undefined
    const session = await opts.admit(principal, model, requestId, req, query)
    let ended = false
    const end = (error?: GatewayError): void => {
      if (ended) return
      ended = true
      opts.onSession?.(-1)
      if (error !== undefined) session.fail(error)
      else session.end('ok')
    }
    opts.onSession?.(1)

    const headers: Record<string, string> = { authorization: opts.upstreamAuthorization, 'x-request-id': requestId }
    const beta = req.headers['openai-beta']
    if (typeof beta === 'string') headers['openai-beta'] = beta
    const upstream = new WebSocket(upstreamRealtimeUrl(opts.upstreamBaseUrl, query), upstreamSubprotocols(req.headers['sec-websocket-protocol']), {
      headers,
      handshakeTimeout: opts.connectTimeoutMs ?? 10_000,
      maxPayload: 16 * 1024 * 1024,
      perMessageDeflate: false
    })
    // The client may leave while the upstream socket is still opening.
    const clientGone = (): void => { upstream.terminate(); end() }
    socket.once('close', clientGone)

    upstream.once('unexpected-response', (_r, res) => {
      // The upstream refused the upgrade: its status and body go to the client as they came.
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => { if (size < 64 * 1024) { chunks.push(c); size += c.length } })
      res.once('end', () => {
        socket.off('close', clientGone)
        end(gatewayError('GW_ERR_UPSTREAM_UNAVAILABLE', [`the upstream refused the upgrade with ${res.statusCode ?? 'no status'}`]))
        if (socket.destroyed) return
        const body = Buffer.concat(chunks)
        socket.end(`HTTP/1.1 ${res.statusCode ?? 502} Upstream\r\ncontent-type: ${res.headers['content-type'] ?? 'application/json'}\r\ncontent-length: ${body.length}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n` + body.toString('utf8'))
      })
      res.once('error', (err) => { end(gatewayError('GW_ERR_UPSTREAM_UNAVAILABLE', [err.message])); socket.destroy() })
    })
    upstream.once('error', (err) => {
      if (upstream.readyState === WebSocket.OPEN || ended) return
      socket.off('close', clientGone)
      const error = gatewayError('GW_ERR_UPSTREAM_UNAVAILABLE', [err.message])
      end(error)
      refuseUpgrade(socket, error, requestId)
    })
    // The upstream may speak first (session.created) before the client's upgrade is done:
    // hold those frames (a handful, bounded by the pause below) until the client is there.
    const early: Array<[Buffer, boolean]> = []
    const hold = (data: RawData, isBinary: boolean): void => { early.push([toBuffer(data), isBinary]) }
    upstream.on('message', hold)
    upstream.once('open', () => {
      socket.off('close', clientGone)
      if (socket.destroyed) {
        upstream.terminate()
        end()
        return
      }
      upstream.pause()
      wss.handleUpgrade(req, socket, head, (client) => {
        session.open()
        upstream.off('message', hold)
        for (const [frame, isBinary] of early) relayFrame(frame, isBinary, client, session)
        pipe(client, upstream, session, end, requestId)
        upstream.resume()
      })
    })
  }

  function pipe (client: WebSocket, upstream: WebSocket, session: RealtimeSession, end: () => void, requestId: string): void {
    forward(client, upstream, undefined)
    forward(upstream, client, session)
    const closeOther = (from: WebSocket, to: WebSocket) => (code: number, reason: Buffer): void => {
      if (to.readyState === WebSocket.OPEN) to.close(sendableCode(code), reason)
      else if (to.readyState === WebSocket.CONNECTING) to.terminate()
      opts.log.debug({ reqId: requestId, code, side: from === client ? 'client' : 'upstream' }, 'realtime closed')
      end()
    }
    client.once('close', closeOther(client, upstream))
    upstream.once('close', closeOther(upstream, client))
    client.on('error', () => { upstream.terminate(); end() })
    upstream.on('error', () => { client.terminate(); end() })
  }

  /**
   * Relays `from` → `to` frame by frame. When `to` has more than `high` bytes queued,
   * `from` is paused; the send callback (the frame reached the socket) resumes it.
   */
  function forward (from: WebSocket, to: WebSocket, session: RealtimeSession | undefined): void {
    const drained = (): void => {
      if (from.isPaused && to.bufferedAmount < high) from.resume()
    }
    from.on('message', (data: RawData, isBinary: boolean) => {
      if (to.readyState !== WebSocket.OPEN) return
      relayFrame(toBuffer(data), isBinary, to, session, drained)
      if (to.bufferedAmount >= high) from.pause()
    })
  }

  /** Sends one frame on; upstream text frames are tapped for usage (`session` set). */
  function relayFrame (frame: Buffer, isBinary: boolean, to: WebSocket, session: RealtimeSession | undefined, sent?: () => void): void {
    if (session !== undefined && !isBinary) {
      const usage = realtimeUsage(frame)
      if (usage !== undefined) session.meter(usage)
    }
    to.send(frame, { binary: isBinary }, sent)
  }
}

function toBuffer (data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
}

/** The protocol the server accepts: the first one offered that does not carry a key. */
function pickProtocol (offered: Set<string>): string | false {
  for (const p of offered) if (!p.startsWith('openai-insecure-api-key.')) return p
  return false
}
