import { gatewayError } from '../errors.js'
import { LocalController, type Controller, type ResponseHandler, type ResponseHead } from '../proxy/interceptor.js'
import type { CacheEntry } from './entry.js'
import type { Flight } from './flight.js'

/**
 * Answers the cache gives itself: a stored entry (a hit) and a coalesced follower of an
 * identical request in flight. Both drive the request's handler as a producer would.
 */

/** Replays a stored entry: a buffered body, or the whole stored SSE stream as one chunk. */
export function answerFromEntry (handler: ResponseHandler, entry: CacheEntry, age: number): void {
  const c = new LocalController()
  handler.onRequestStart(c)
  if (c.aborted) {
    handler.onResponseError(c, gatewayError('GW_ERR_CLIENT_CLOSED'))
    return
  }
  const headers: Record<string, string> = { ...entry.headers, 'x-gateway-cache': 'HIT', age: String(age) }
  if (entry.kind === 'body') {
    handler.onResponseStart(c, { status: entry.status, headers, kind: 'buffered', body: entry.body })
    handler.onResponseEnd(c, { outcome: 'ok' })
    return
  }
  handler.onResponseStart(c, { status: entry.status, headers, kind: 'sse' })
  if (!c.aborted) handler.onResponseData(c, entry.body)
  handler.onResponseEnd(c, { outcome: c.aborted ? 'client_abort' : 'ok' })
}

/**
 * Follows a flight's live stream for one coalesced request: the chunks so far, then each
 * new one, with backpressure of its own (a slow follower waits; the leader does not).
 * A follower that leaves just stops following; a leader stream that broke breaks it too.
 */
export class Follower implements Controller {
  aborted = false
  paused = false
  private wake: (() => void) | undefined

  constructor (private readonly handler: ResponseHandler, private readonly flight: Flight, private readonly head: ResponseHead) {}

  pause (): void { this.paused = true }
  resume (): void {
    this.paused = false
    this.wake?.()
  }

  abort (): void {
    this.aborted = true
    this.wake?.()
  }

  async run (): Promise<void> {
    const h = this.handler
    h.onRequestStart(this)
    if (this.aborted) {
      h.onResponseError(this, gatewayError('GW_ERR_CLIENT_CLOSED'))
      return
    }
    h.onResponseStart(this, this.head)
    try {
      for await (const chunk of this.flight.follow(noUsage)) {
        if (this.aborted) break
        h.onResponseData(this, chunk)
        while (this.paused && !this.aborted) await new Promise<void>((resolve) => { this.wake = resolve })
        this.wake = undefined
      }
    } catch {
      h.onResponseEnd(this, { outcome: 'upstream_error' })
      return
    }
    h.onResponseEnd(this, { outcome: this.aborted ? 'client_abort' : 'ok' })
  }
}

function noUsage (): void {}
