import type { StoredUsage as UsageSummary } from './entry.js'

/** How a flight's leader got its answer, as waiters need it to answer their own clients. */
export type FlightStart =
  | { kind: 'body', status: number, headers: Record<string, string>, body: Buffer, usage: UsageSummary | undefined }
  | { kind: 'stream', status: number, headers: Record<string, string> }
  /** No cacheable answer (error, upstream down, not JSON/SSE): waiters go upstream themselves. */
  | { kind: 'failed' }

/**
 * One cacheable request in flight (the leader) and the identical requests waiting for it.
 *
 *   leader:  before ─ relay ─ onChunk… ─ onEnd ─ after(store) ─ drop
 *   waiter:        join() ─────┴ start ─ follow(): chunks[0..n] so far, then each new one
 *
 * A stream's chunks are kept as the references the relay wrote (no copies) so that a
 * waiter that joins late first gets everything so far, then follows live. A waiter whose
 * leader fails before its answer starts gets `failed` and goes upstream itself; once the
 * stream has started, waiters share the leader's fate (they get the same bytes, and a
 * broken leader stream breaks theirs: the bytes cannot be taken back).
 */
export class Flight {
  /** The stream's chunks so far (the whole stream once ended). */
  readonly chunks: Buffer[] = []
  bytes = 0
  waiters = 0
  ended = false
  /** The stream ended with its terminal event and nothing broke. */
  complete = false
  usage: UsageSummary | undefined
  /** Epoch ms when the leader's answer was complete (set by the cache interceptor): its age counts from here. */
  doneAt = 0
  /** How the answer started; undefined until then. */
  startState: FlightStart | undefined
  private readonly started: Promise<FlightStart>
  private resolveStart!: (s: FlightStart) => void
  private tick!: Promise<void>
  private wake!: () => void

  constructor () {
    this.started = new Promise((resolve) => { this.resolveStart = resolve })
    this.newTick()
  }

  /** The answer has started (or failed): waiters can be told. */
  get hasStarted (): boolean {
    return this.startState !== undefined
  }

  /** A waiter joins: resolves once the leader's answer starts (or fails). */
  join (): Promise<FlightStart> {
    this.waiters++
    return this.started
  }

  /** The leader's answer starts; later calls are ignored (the first word counts). */
  start (s: FlightStart): void {
    if (this.startState !== undefined) return
    this.startState = s
    this.resolveStart(s)
    if (s.kind !== 'stream') this.end(s.kind === 'body', s.kind === 'body' ? s.usage : undefined)
  }

  /** A chunk of the leader's stream reached its client. */
  push (chunk: Buffer): void {
    this.chunks.push(chunk)
    this.bytes += chunk.length
    this.wake()
    this.newTick()
  }

  /** Drops the kept chunks (too large to store and nobody follows). */
  forget (): void {
    this.chunks.length = 0
  }

  /** The leader's answer is over; `complete` says whether it may be stored and replayed. */
  end (complete: boolean, usage: UsageSummary | undefined): void {
    if (this.ended) return
    this.start({ kind: 'failed' })
    this.ended = true
    this.complete = complete
    this.usage = usage
    this.wake()
  }

  /**
   * The stream as a waiter relays it: the chunks so far, then each new one as it comes.
   * `onEnd` gets the leader's usage before the iterable finishes (so the waiter's metering
   * sees it); a stream that did not complete ends with an error (the waiter's outcome).
   */
  async * follow (onEnd: (usage: UsageSummary | undefined) => void): AsyncGenerator<Buffer> {
    let i = 0
    for (;;) {
      while (i < this.chunks.length) yield this.chunks[i++]!
      if (this.ended) break
      await this.tick
    }
    onEnd(this.usage)
    if (!this.complete) throw new Error('the coalesced stream broke before its end')
  }

  private newTick (): void {
    this.tick = new Promise((resolve) => { this.wake = resolve })
  }
}
