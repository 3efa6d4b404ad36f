import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { Exchange, Stage, StageAnswer } from './exchange.js'
import type { Upstream } from './upstream.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { SseScanner, type Write } from './sse-scanner.js'
import { errorCode, upstreamError } from './upstream-errors.js'
import { gatewayError } from '../errors.js'

/** What the relay needs besides the exchange; built once per app. */
export interface RelayContext {
  readonly upstream: Upstream
  /** Called when a stream starts (+1) and ends (-1): the active-streams gauge. */
  readonly onStreamCount: (delta: number) => void
}

const EVENT_STREAM = 'text/event-stream'

/**
 * Sends the exchange upstream and relays the answer to `res`:
 * - `text/event-stream`: headers at once, then every chunk as the same bytes the moment it
 *   arrives, through the SSE scanner (usage tap, optional usage-chunk strip);
 * - JSON and errors: buffered, so `beforeSend` stages can read the body (usage, cost
 *   header, cache) before the headers go out;
 * - anything else (audio, files): piped through unchanged.
 * A client that leaves aborts the upstream request at once.
 * @throws GatewayError when the upstream cannot be reached or sends no headers in time.
 */
export async function relay (ex: Exchange, res: ServerResponse, ran: readonly Stage[], ctx: RelayContext): Promise<void> {
  const { upstream } = ctx
  if (upstream.authorization === undefined) throw gatewayError('GW_ERR_UPSTREAM_NOT_CONFIGURED')
  // The abort signal is a plain EventEmitter: undici takes one in place of an AbortSignal,
  // and an AbortController with its listener costs about 5 µs per request on Node 20
  // (EventTarget) against 0.2 µs (bench/micro/abort-signal.ts).
  const abort = new EventEmitter()
  let aborted = false
  const onClose = (): void => {
    if (!res.writableFinished) {
      ex.outcome = 'client_abort'
      // Others follow this answer (coalesced requests): keep reading it for them.
      if (ex.keepUpstreamOnAbort?.() !== true) {
        aborted = true
        abort.emit('abort')
      }
    }
  }
  res.once('close', onClose)
  let answer
  try {
    answer = await upstream.pool.request({
      method: ex.method as 'POST',
      path: upstream.basePath + ex.upstreamPath,
      headers: upstreamRequestHeaders(ex.clientHeaders, upstream.authorization, ex.id),
      body: ex.upstreamBody,
      signal: abort
    })
  } catch (err) {
    if (aborted) return
    ex.outcome = errorCode(err) === 'UND_ERR_HEADERS_TIMEOUT' ? 'upstream_timeout' : 'upstream_error'
    throw upstreamError(err, upstream.headersTimeoutMs)
  }
  ex.ttfbMs = performance.now() - ex.startedAt
  ex.status = answer.statusCode
  ex.upstreamHeaders = answer.headers
  const headers = clientResponseHeaders(answer.headers)
  const type = answer.headers['content-type']
  const body = answer.body as unknown as Readable
  if (typeof type === 'string' && type.startsWith(EVENT_STREAM) && ex.status < 300) {
    await pipeStream(ex, res, body, headers, new SseScanner(ex.stripUsageChunk), ctx)
  } else if (ex.status >= 300 || (typeof type === 'string' && type.includes('json')) || type === undefined) {
    await sendBuffered(ex, res, await readAll(ex, body), headers, ran)
  } else {
    await pipeStream(ex, res, body, headers, undefined, ctx)
  }
  res.off('close', onClose)
}

/** Sends an answer a stage gave instead of the upstream (cache hit, coalesced request). */
export async function sendStageAnswer (ex: Exchange, res: ServerResponse, answer: StageAnswer, ran: readonly Stage[], ctx: RelayContext): Promise<void> {
  ex.status = answer.status
  if (answer.kind === 'body') {
    await sendBuffered(ex, res, answer.body, { ...answer.headers }, ran)
    return
  }
  const scanner = new SseScanner(false)
  ex.sse = scanner
  writeHead(ex, res, { ...answer.headers }, true)
  ctx.onStreamCount(1)
  try {
    const write = clientWriter(ex, res)
    for await (const chunk of answer.chunks) {
      if (res.destroyed) {
        ex.outcome = 'client_abort'
        return
      }
      scanner.push(chunk, write)
      if (res.writableNeedDrain) await waitDrain(res)
    }
    scanner.end(write)
    res.end()
  } catch {
    ex.outcome = 'upstream_error'
    res.end()
  } finally {
    ctx.onStreamCount(-1)
    endObservers(ex)
  }
}

/** Tells the observers the stream is over (before any stage's `after` runs). */
function endObservers (ex: Exchange): void {
  for (const o of ex.observers) o.onEnd(ex)
}

function writeHead (ex: Exchange, res: ServerResponse, headers: Record<string, string | string[]>, stream: boolean): void {
  if (res.destroyed) return
  if (headers['x-request-id'] === undefined) headers['x-request-id'] = ex.id
  if (stream) {
    // Tell buffering intermediaries (nginx) to pass events on at once.
    headers['cache-control'] ??= 'no-cache'
    headers['x-accel-buffering'] = 'no'
  }
  Object.assign(headers, ex.responseHeaders)
  res.writeHead(ex.status, headers)
  if (stream) {
    res.socket?.setNoDelay(true)
    res.flushHeaders()
  }
}

/** One writer per response: counts bytes, feeds observers, writes. */
function clientWriter (ex: Exchange, res: ServerResponse): Write {
  const observers = ex.observers
  return (chunk) => {
    ex.bytesOut += chunk.length
    for (let i = 0; i < observers.length; i++) observers[i]!.onChunk(chunk)
    // A client that left while the answer goes on for coalesced followers gets no writes.
    if (!res.destroyed) res.write(chunk)
  }
}

function waitDrain (res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => { res.off('drain', done); res.off('close', done); resolve() }
    res.on('drain', done)
    res.on('close', done)
  })
}

/**
 * Relays a body chunk by chunk with backpressure: when the client's socket is full the
 * upstream body is paused until it drains, so a slow client never makes us buffer.
 */
function pipeStream (ex: Exchange, res: ServerResponse, body: Readable, headers: Record<string, string | string[]>, scanner: SseScanner | undefined, ctx: RelayContext): Promise<void> {
  ex.sse = scanner
  writeHead(ex, res, headers, scanner !== undefined)
  ctx.onStreamCount(1)
  const write = clientWriter(ex, res)
  const resume = (): void => { body.resume() }
  return new Promise<void>((resolve) => {
    let settled = false
    const settle = (): void => {
      if (settled) return
      settled = true
      ctx.onStreamCount(-1)
      endObservers(ex)
      res.off('drain', resume)
      res.off('close', resume)
      resolve()
    }
    res.on('drain', resume)
    // If the client leaves while the upstream body is kept for followers, no drain will come.
    res.once('close', resume)
    body.on('data', (chunk: Buffer) => {
      if (scanner !== undefined) scanner.push(chunk, write)
      else write(chunk)
      if (res.writableNeedDrain && !res.destroyed) body.pause()
    })
    body.once('end', () => {
      scanner?.end(write)
      res.end()
      settle()
    })
    body.once('error', (err) => {
      if (ex.outcome === 'ok') ex.outcome = errorCode(err) === 'UND_ERR_BODY_TIMEOUT' ? 'upstream_timeout' : 'upstream_error'
      // End the client's stream cleanly (chunked terminator): what arrived stays valid.
      if (!res.destroyed) res.end()
      settle()
    })
    body.once('close', settle)
  })
}

/**
 * Collects a buffered answer with 'data'/'end' events, not `for await`: the async iterator
 * costs a promise and a microtask per chunk plus its own set-up, about 11 µs of CPU per
 * upstream call here (bench/micro/undici-api.ts: 79 → 68 µs).
 * A body that errors or closes early gives what arrived, and the outcome says so.
 */
function readAll (ex: Exchange, body: Readable): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let ended = false
    const done = (): void => { resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)) }
    body.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    body.once('end', () => { ended = true; done() })
    body.once('error', (err) => {
      if (ex.outcome === 'ok') ex.outcome = errorCode(err) === 'UND_ERR_BODY_TIMEOUT' ? 'upstream_timeout' : 'upstream_error'
      done()
    })
    body.once('close', () => {
      if (!ended && ex.outcome === 'ok') ex.outcome = 'upstream_error'
      done()
    })
  })
}

async function sendBuffered (ex: Exchange, res: ServerResponse, body: Buffer, headers: Record<string, string | string[]>, ran: readonly Stage[]): Promise<void> {
  if (ex.outcome === 'client_abort' || res.destroyed) return
  ex.responseBody = body
  for (const stage of ran) stage.beforeSend?.(ex)
  const out = ex.responseBody
  headers['content-length'] = String(out.length)
  writeHead(ex, res, headers, false)
  ex.bytesOut += out.length
  await new Promise<void>((resolve) => res.end(out, resolve))
}
