import type { GatewayError } from '../errors.js'
import { ForwardingHandler, type Controller, type ResponseEnd, type ResponseHandler, type ResponseHead } from '../proxy/interceptor.js'
import { SseScanner, type Write } from '../proxy/sse-scanner.js'
import { replayHeaders } from './entry.js'
import type { Flight } from './flight.js'
import { isCompleteAnswer } from './policy.js'

/** The cache's state for a request that goes upstream and may be stored (a MISS or a refresh). */
export interface Lead {
  readonly key: string
  readonly ttl: number
  readonly flight: Flight
  /** Store the answer when complete (false for too large answers). */
  store: boolean
  /** The flight is in the cache's map, so identical requests join it. */
  registered: boolean
  /** Chunks are being kept (for waiters and the store). */
  recording: boolean
  /** This request holds the cross-instance fill lock (Redis): released once stored. */
  lockToken: string | undefined
}

/** What the leader's handler needs of the cache interceptor that made it. */
export interface LeadOwner {
  readonly maxEntry: number
  now (): number
  unregister (lead: Lead): void
  /** After the answer: store it if complete, then unregister and release the lock. */
  finish (lead: Lead): void
}

const NO_WRITE: Write = () => {}

/**
 * Sees the leader's answer on its way to the client and records it for its followers
 * and the store. Detach: when the leader's client leaves while followers wait, the
 * abort is not passed on, so the upstream answer goes on for them (as undici's
 * DeduplicationHandler does); the leader's own client simply gets no more writes.
 */
export class LeaderHandler implements ResponseHandler, Controller {
  private ctrl: Controller | undefined
  private scanner: SseScanner | undefined
  private head: ResponseHead | undefined

  constructor (
    private readonly inner: ResponseHandler,
    private readonly lead: Lead,
    private readonly mark: 'MISS' | 'BYPASS',
    private readonly owner: LeadOwner
  ) {}

  get aborted (): boolean { return this.ctrl?.aborted ?? false }
  get paused (): boolean { return this.ctrl?.paused ?? false }
  pause (): void { this.ctrl?.pause() }
  resume (): void { this.ctrl?.resume() }
  abort (reason: Error): void {
    if (this.lead.recording && this.lead.flight.waiters > 0) return
    this.ctrl?.abort(reason)
  }

  onRequestStart (controller: Controller): void {
    this.ctrl = controller
    this.inner.onRequestStart(this)
  }

  onResponseStart (_controller: Controller, head: ResponseHead): void {
    head.headers['x-gateway-cache'] = this.mark
    this.head = head
    const f = this.lead.flight
    if (head.kind === 'sse' && head.status === 200) {
      f.start({ kind: 'stream', status: 200, headers: replayHeaders(head.headers) })
      this.scanner = new SseScanner()
    } else if (head.kind !== 'buffered') {
      this.stopRecording()
    }
    this.inner.onResponseStart(this, head)
  }

  onResponseData (_controller: Controller, chunk: Buffer): void {
    const l = this.lead
    if (l.recording && this.scanner !== undefined) {
      this.scanner.push(chunk, NO_WRITE)
      l.flight.push(chunk)
      if (l.flight.bytes > this.owner.maxEntry) {
        // Too large to store: no new joiners; keep the chunks only for those following already.
        l.store = false
        this.owner.unregister(l)
        if (l.flight.waiters === 0) this.stopRecording()
      }
    }
    this.inner.onResponseData(this, chunk)
  }

  onResponseEnd (_controller: Controller, end: ResponseEnd): void {
    const head = this.head!
    const l = this.lead
    const f = l.flight
    const buffered = head.kind === 'buffered'
    if (buffered || this.scanner !== undefined) {
      this.scanner?.end(NO_WRITE)
      const complete = isCompleteAnswer({
        status: head.status,
        outcome: end.outcome,
        responseBody: buffered ? head.body ?? Buffer.alloc(0) : undefined,
        sse: this.scanner,
        upstreamHeaders: head.headers
      })
      f.doneAt = this.owner.now()
      if (buffered && complete) {
        f.start({ kind: 'body', status: head.status, headers: replayHeaders(head.headers), body: head.body!, usage: undefined })
        // Those waiting have it; nobody else may get an answer that is not stored.
        if (head.body!.length > this.owner.maxEntry) {
          l.store = false
          this.owner.unregister(l)
        }
      }
      f.end(complete, undefined)
      // A broken answer is not replayed to anyone who comes later.
      if (!complete) this.owner.unregister(l)
    }
    this.inner.onResponseEnd(this, end)
    this.owner.finish(l)
  }

  onResponseError (_controller: Controller, error: GatewayError): void {
    error.headers['x-gateway-cache'] = this.mark
    // Not answered at all (upstream unreachable, client gone): waiters go upstream themselves.
    this.lead.flight.end(false, undefined)
    this.inner.onResponseError(this, error)
    this.owner.finish(this.lead)
  }

  private stopRecording (): void {
    const l = this.lead
    l.recording = false
    l.store = false
    l.flight.start({ kind: 'failed' })
    l.flight.forget()
    this.owner.unregister(l)
  }
}

/** `cache-control: no-store`: the answer passes untouched but for its `x-gateway-cache: BYPASS`. */
export class BypassHandler extends ForwardingHandler {
  override onResponseStart (controller: Controller, head: ResponseHead): void {
    head.headers['x-gateway-cache'] = 'BYPASS'
    this.inner.onResponseStart(controller, head)
  }

  override onResponseError (controller: Controller, error: GatewayError): void {
    error.headers['x-gateway-cache'] = 'BYPASS'
    this.inner.onResponseError(controller, error)
  }
}
