import type { ServerResponse } from 'node:http'
import type { GatewayError } from '../errors.js'
import type { Controller, ResponseEnd, ResponseHandler, ResponseHead } from './interceptor.js'

/**
 * The innermost handler of every `/v1` answer: writes it to the client's raw response.
 * Streams go out chunk by chunk with backpressure (a full socket pauses the producer
 * until it drains); a client that leaves before the end aborts the producer.
 * Gateway errors are written in OpenAI's shape with their headers.
 */
export class ClientResponse implements ResponseHandler {
  private ctrl: Controller | undefined
  private streaming = false
  private readonly onClose = (): void => {
    if (this.res.writableFinished) return
    this.ctrl?.abort(new Error('the client left'))
    // An answer kept going for others (the cache's followers) must not stay paused on a gone client.
    this.ctrl?.resume()
  }

  private readonly onDrain = (): void => { this.ctrl?.resume() }
  /** A chunk was written: the head went out with it. */
  private wrote = false

  constructor (
    private readonly res: ServerResponse,
    private readonly requestId: string,
    /** +1 when a stream starts, -1 when it ends: the active-streams gauge. */
    private readonly onStreamCount: (delta: number) => void
  ) {}

  onRequestStart (controller: Controller): void {
    this.ctrl = controller
    if (this.res.destroyed) {
      controller.abort(new Error('the client left'))
      return
    }
    // `on`, not `once`: no wrapper function per request (finish() takes it off).
    this.res.on('close', this.onClose)
  }

  onResponseStart (_controller: Controller, head: ResponseHead): void {
    const res = this.res
    if (res.destroyed) return
    const headers = head.headers
    if (headers['x-request-id'] === undefined) headers['x-request-id'] = this.requestId
    if (head.kind === 'buffered') {
      const body = head.body ?? EMPTY
      headers['content-length'] = String(body.length)
      res.writeHead(head.status, headers)
      res.end(body)
      return
    }
    if (head.kind === 'sse') {
      // Tell buffering intermediaries (nginx) to pass events on at once.
      headers['cache-control'] ??= 'no-cache'
      headers['x-accel-buffering'] = 'no'
    }
    res.writeHead(head.status, headers)
    res.socket?.setNoDelay(true)
    // The head goes out with the first chunk when that arrives in this same turn (as it
    // usually does: one upstream read holds both), in one write; else at the end of the
    // turn on its own. An immediate flushHeaders() costs a write(2) per stream.
    process.nextTick(flushHead, this)
    this.streaming = true
    this.onStreamCount(1)
    res.on('drain', this.onDrain)
  }

  onResponseData (controller: Controller, chunk: Buffer): void {
    // A client that left while the answer goes on (for coalesced followers) gets no writes.
    if (this.res.destroyed) return
    this.wrote = true
    if (!this.res.write(chunk)) controller.pause()
  }

  onResponseEnd (_controller: Controller, end: ResponseEnd): void {
    const res = this.res
    if (!res.writableEnded && !res.destroyed) {
      // A stream the upstream broke is cut, not ended: without the chunked terminator the
      // client knows it is truncated (a clean end would pass it off as complete).
      if (end.outcome === 'upstream_error' || end.outcome === 'upstream_timeout') res.destroy()
      else res.end()
    }
    this.finish()
  }

  onResponseError (_controller: Controller, error: GatewayError): void {
    const res = this.res
    if (res.headersSent) {
      if (!res.writableEnded) res.end()
    } else if (!res.destroyed) {
      const body = JSON.stringify(error.toJSON())
      res.writeHead(error.status, {
        ...error.headers,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-request-id': this.requestId
      })
      res.end(body)
    }
    this.finish()
  }

  /** End of the turn the head was written in: send it now unless a chunk took it along. */
  flushHead (): void {
    const res = this.res
    if (!this.wrote && !res.writableEnded && !res.destroyed) res.flushHeaders()
  }

  private finish (): void {
    this.res.off('close', this.onClose)
    if (!this.streaming) return
    this.streaming = false
    this.res.off('drain', this.onDrain)
    this.onStreamCount(-1)
  }
}

const EMPTY = Buffer.alloc(0)

function flushHead (r: ClientResponse): void { r.flushHead() }
