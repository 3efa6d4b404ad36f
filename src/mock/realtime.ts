import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { MockUsage } from './upstream.js'

/** What the mock realtime endpoint saw of one connection. */
export interface RealtimeConnection {
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly received: unknown[]
  closed: boolean
}

export interface MockRealtime {
  readonly connections: RealtimeConnection[]
  /** Closes every open socket from the upstream's side. */
  closeAll (code?: number): void
}

/**
 * A Realtime API endpoint (`/v1/realtime`) on the mock upstream's HTTP server. It wants
 * the upstream key, answers `session.created` on connect, echoes `session.update` as
 * `session.updated`, and answers `response.create` with a text delta and a
 * `response.done` carrying `usage` (realtime shape). Enough for the openai SDK's
 * realtime client and for metering tests.
 * @example const rt = attachMockRealtime(mock.server, 'sk-upstream', { input: 100, cached: 40, output: 20, reasoning: 0 })
 */
export function attachMockRealtime (server: Server, upstreamKey: string, usage: MockUsage): MockRealtime {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => p.values().next().value ?? false })
  const connections: RealtimeConnection[] = []
  const sockets = new Set<WebSocket>()
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0]
    if (path !== '/v1/realtime') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n')
      return
    }
    if (req.headers.authorization !== `Bearer ${upstreamKey}`) {
      const body = JSON.stringify({ error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } })
      socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`)
      return
    }
    const conn: RealtimeConnection = { url: req.url ?? '', headers: req.headers, received: [], closed: false }
    connections.push(conn)
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws)
      const model = new URL(req.url ?? '/', 'http://x').searchParams.get('model') ?? 'gpt-realtime'
      let n = 0
      const send = (e: Record<string, unknown>): void => { ws.send(JSON.stringify({ event_id: `evt_${++n}`, ...e })) }
      send({ type: 'session.created', session: { id: 'sess_mock', object: 'realtime.session', model } })
      ws.on('message', (data, isBinary) => {
        if (isBinary) return
        let event: { type?: string, session?: unknown }
        try {
          event = JSON.parse(data.toString())
        } catch {
          send({ type: 'error', error: { type: 'invalid_request_error', message: 'not JSON' } })
          return
        }
        conn.received.push(event)
        if (event.type === 'session.update') send({ type: 'session.updated', session: event.session })
        if (event.type === 'response.create') {
          const id = `resp_${n}`
          send({ type: 'response.created', response: { id, object: 'realtime.response', status: 'in_progress', output: [] } })
          send({ type: 'response.output_text.delta', response_id: id, item_id: 'item_1', output_index: 0, content_index: 0, delta: 'Hello from the mock.' })
          send({
            type: 'response.done',
            response: {
              id,
              object: 'realtime.response',
              status: 'completed',
              output: [],
              usage: {
                total_tokens: usage.input + usage.output,
                input_tokens: usage.input,
                output_tokens: usage.output,
                input_token_details: { cached_tokens: usage.cached, text_tokens: usage.input, audio_tokens: 0 },
                output_token_details: { text_tokens: usage.output, audio_tokens: 0 }
              }
            }
          })
        }
      })
      ws.on('close', () => { conn.closed = true; sockets.delete(ws) })
    })
  })
  return {
    connections,
    closeAll (code = 1000) {
      for (const ws of sockets) ws.close(code, 'mock closing')
    }
  }
}
