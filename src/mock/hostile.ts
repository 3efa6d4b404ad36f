import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { chatCompletion, chatStreamEvents, DEFAULT_USAGE } from './upstream.js'

/**
 * An upstream that lies and bloats, for the tests and the benchmark of the gateway's
 * limits. It runs in its own process (scripts/hostile-upstream.ts), so that producing a
 * gigabyte does not load the process that measures the gateway. The attack is chosen per
 * request by the `x-attack` header (the gateway passes client headers on), its size in
 * MiB by `x-attack-mb`; without the header it answers like the plain mock.
 *
 *   huge-event     one SSE event that never ends (no newline), `mb` MiB of it
 *   late-choices   one SSE event of `mb` MiB whose "choices" comes after the padding
 *   big-json       a 200 JSON answer of `mb` MiB (usage at its end)
 *   short-length   content-length larger than the body, then the connection ends
 *   reset-json     half a JSON answer, then the socket is destroyed
 *   reset-sse      a few SSE events, then the socket is destroyed
 *   gzip, br       the JSON answer compressed, despite `accept-encoding: identity`
 *   continue       an unsolicited `100 Continue`, then the JSON answer
 *   early-hints    `102 Processing` and `103 Early Hints` before the answer (JSON or SSE)
 *   gzip-sse       the SSE answer gzip-compressed (usage in its last chunk)
 */
export type Attack = 'huge-event' | 'late-choices' | 'big-json' | 'short-length' | 'reset-json' | 'reset-sse' | 'gzip' | 'br' | 'continue' | 'early-hints' | 'gzip-sse'

export interface HostileUpstream {
  readonly url: string
  readonly baseUrl: string
  readonly server: Server
  close (): Promise<void>
}

const MiB = 1024 * 1024
const PIECE = 64 * 1024

/** Writes `total` bytes of `fill` in 64 KiB pieces, honouring backpressure; stops if the peer leaves. */
async function writeFill (res: ServerResponse, total: number, fill: number): Promise<void> {
  const piece = Buffer.alloc(PIECE, fill)
  let left = total
  while (left > 0 && !res.destroyed) {
    const n = Math.min(left, PIECE)
    left -= n
    if (!res.write(n === PIECE ? piece : piece.subarray(0, n))) {
      await new Promise<void>((resolve) => {
        const done = (): void => { res.off('drain', done); res.off('close', done); resolve() }
        res.once('drain', done)
        res.once('close', done)
      })
    }
  }
}

function modelOf (body: Buffer): string {
  try {
    const m = (JSON.parse(body.toString('utf8')) as { model?: unknown }).model
    return typeof m === 'string' ? m : 'gpt-5.2-chat-latest'
  } catch {
    return 'gpt-5.2-chat-latest'
  }
}

function streamed (body: Buffer): boolean {
  return /"stream"\s*:\s*true/.test(body.toString('utf8', 0, Math.min(body.length, 4096)))
}

/** What the plain mock would answer: a stream when the body asks for one, else JSON. */
function plainAnswer (res: ServerResponse, body: Buffer, model: string): void {
  if (streamed(body)) {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (const e of chatStreamEvents(model, 5, DEFAULT_USAGE)) res.write(e)
    res.end()
    return
  }
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify(chatCompletion(model, 5, DEFAULT_USAGE)))
}

async function answer (req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
  const attack = req.headers['x-attack'] as Attack | undefined
  const mb = Number(req.headers['x-attack-mb'] ?? 16)
  const model = modelOf(body)
  const json = (): string => JSON.stringify(chatCompletion(model, 5, DEFAULT_USAGE))
  switch (attack) {
    case 'huge-event':
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"')
      await writeFill(res, mb * MiB, 0x61)
      res.end()
      return
    case 'late-choices':
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"id":"x","object":"chat.completion.chunk","pad":"')
      await writeFill(res, mb * MiB, 0x61)
      res.write('","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n')
      for (const e of chatStreamEvents(model, 2, DEFAULT_USAGE)) res.write(e)
      res.end()
      return
    case 'big-json': {
      res.writeHead(200, { 'content-type': 'application/json' })
      const whole = json()
      const cut = whole.indexOf('"usage"')
      res.write(whole.slice(0, cut) + '"pad":"')
      await writeFill(res, mb * MiB, 0x61)
      res.end('",' + whole.slice(cut))
      return
    }
    case 'short-length': {
      const whole = json()
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(whole) + 1000) })
      res.write(whole)
      setTimeout(() => res.socket?.destroy(), 20)
      return
    }
    case 'reset-json': {
      const whole = json()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write(whole.slice(0, whole.length >> 1))
      setTimeout(() => res.socket?.destroy(), 20)
      return
    }
    case 'reset-sse':
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const e of chatStreamEvents(model, 5, undefined).slice(0, 3)) res.write(e)
      setTimeout(() => res.socket?.destroy(), 20)
      return
    case 'gzip':
    case 'br': {
      const packed = attack === 'gzip' ? gzipSync(json()) : brotliCompressSync(json())
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': attack, 'content-length': String(packed.length) })
      res.end(packed)
      return
    }
    case 'early-hints':
      res.writeProcessing()
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
      plainAnswer(res, body, model)
      return
    case 'gzip-sse':
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' })
      res.end(gzipSync(chatStreamEvents(model, 5, DEFAULT_USAGE).join('')))
      return
    case 'continue':
      res.writeContinue()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(json())
      return
    default:
      plainAnswer(res, body, model)
  }
}

/**
 * @example const up = await startHostileUpstream(); // UPSTREAM_BASE_URL=up.baseUrl
 */
export async function startHostileUpstream (port = 0, host = '127.0.0.1'): Promise<HostileUpstream> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      answer(req, Buffer.concat(chunks), res).catch(() => { res.destroy() })
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(port, host, resolve))
  const url = `http://${host}:${(server.address() as AddressInfo).port}`
  return {
    url,
    baseUrl: url + '/v1',
    server,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
