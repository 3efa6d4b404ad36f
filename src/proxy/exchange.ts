import type { IncomingHttpHeaders } from 'node:http'
import type { KeyRecord } from '../auth/key-record.js'

/**
 * One client request and its answer, as the features see it. The relay fills in the
 * response side; features read it and add to `responseHeaders`, `usage` and the like.
 *
 *   client ─▶ auth (onRequest) ─▶ stages.before… ─▶ relay ⇄ upstream ─▶ client
 *                                       │                 │
 *                                 may answer itself   observers.onChunk (stream bytes)
 *                                 (cache hit)         stages.beforeSend (buffered JSON)
 *                                                          │
 *                                        stages.after (reverse order), then the log line
 */
export interface Exchange {
  readonly id: string
  /** Route template for labels and logs: `/v1/chat/completions`, `/v1/responses/{id}`, … */
  readonly route: string
  readonly method: string
  /** Path and query below the upstream base URL, e.g. `/chat/completions?x=1`. */
  readonly upstreamPath: string
  readonly clientHeaders: IncomingHttpHeaders
  /** `performance.now()` at arrival. */
  readonly startedAt: number
  readonly key: KeyRecord
  /** The body as the client sent it (cache keys are computed over this). */
  readonly clientBody: Buffer | undefined
  /** The parsed JSON body, when the body is a JSON object. Never mutate it. */
  readonly json: Readonly<Record<string, unknown>> | undefined
  /** `model` of the JSON body, as the client wrote it. */
  readonly model: string | undefined
  /** The client asked for a stream (`"stream": true`). */
  readonly stream: boolean

  /** The body that goes upstream; a stage may replace it (e.g. to add `include_usage`). */
  upstreamBody: Buffer | undefined
  /** Remove the chat usage-only chunk from what the client receives (the client did not ask for it). */
  stripUsageChunk: boolean
  /**
   * Asked when the client leaves mid-answer: true keeps the upstream request running (the
   * cache sets it while coalesced requests follow this answer), else it is aborted at once.
   */
  keepUpstreamOnAbort: (() => boolean) | undefined
  /** Label value for `model` in metrics: a priced model name or `other` (set by metering). */
  modelLabel: string
  /** Headers added to the client's response (limits, cache, cost). Set before headers go out. */
  readonly responseHeaders: Record<string, string>
  /** Stream observers: see each chunk the client receives, in order, and the end. */
  readonly observers: StreamObserver[]

  // Filled by the relay.
  status: number
  /** Milliseconds from arrival to upstream response headers (undefined for answers not from upstream). */
  ttfbMs: number | undefined
  /** Upstream response headers (lower-case), undefined until they arrive. */
  upstreamHeaders: Record<string, string | string[] | undefined> | undefined
  /** Buffered (non-stream JSON) response body, available from `beforeSend` on. */
  responseBody: Buffer | undefined
  /** SSE facts found by the scanner; undefined for non-SSE answers. */
  sse: SseFacts | undefined
  /** How the exchange ended. */
  outcome: Outcome
  /** Bytes written to the client (body only). */
  bytesOut: number

  // Filled by features.
  /** `HIT`, `MISS` or `BYPASS` when caching applies to this request. */
  cache: 'HIT' | 'MISS' | 'BYPASS' | undefined
  /**
   * Usage and cost of this exchange once known: set by metering in `beforeSend`
   * (buffered answers) or its observer's `onEnd` (streams), so it is there for every
   * `after`. A cache hit sets it in `before` from the stored entry; metering then keeps it.
   */
  usage: UsageSummary | undefined
}

/** What the SSE scanner learnt about a relayed stream. */
export interface SseFacts {
  /** The last complete data event that is not `[DONE]` (chat: the usage chunk; responses: the terminal event). */
  lastEvent: Buffer | undefined
  /** The usage-only chat chunk removed from the client's stream, when stripping. */
  strippedEvent: Buffer | undefined
  /** `data: [DONE]` was seen. */
  sawDone: boolean
  /** Complete events seen (comments included). */
  events: number
}

export type Outcome =
  | 'ok' // the whole answer reached the client
  | 'client_abort' // the client left before the end
  | 'upstream_error' // the upstream broke mid-answer (or could not be reached)
  | 'upstream_timeout' // no headers in time, or the body stalled
  | 'refused' // a stage or the gateway answered with an error

/** A short summary of metered usage, for the log line and headers (metering owns the details). */
export interface UsageSummary {
  model: string
  inputTokens: number
  cachedInputTokens: number
  outputTokens: number
  reasoningTokens: number
  /** Nano-dollars (1e-9 USD), an exact integer. */
  costNanos: number
  estimated: boolean
  priced: boolean
}

/**
 * Sees the bytes of a streamed answer (SSE or piped, from upstream or from a stage's
 * answer) as the client receives them. Must not throw or block. `onEnd` runs once when
 * the stream is over, however it ended, before any stage's `after`: metering computes
 * usage there so that `after` of every stage (cache, limits) can read `ex.usage`.
 */
export interface StreamObserver {
  onChunk (chunk: Buffer): void
  /** The stream ended; `ex.outcome` and `ex.sse` say how. */
  onEnd (ex: Exchange): void
}

/** An answer a stage gives instead of the upstream (a cache hit or a coalesced request). */
export type StageAnswer =
  | { kind: 'body', status: number, headers: Record<string, string>, body: Buffer }
  | { kind: 'stream', status: number, headers: Record<string, string>, chunks: AsyncIterable<Buffer> }

/**
 * A feature plugged into the relay. The relay never imports features; `app.ts` hands it
 * the stages in order. Contract:
 * - `before` runs in order before the upstream call. Throw a `GatewayError` to refuse
 *   (later stages do not run, `after` of the stages that ran still does). Return a
 *   `StageAnswer` to answer without the upstream (later stages' `before` do not run).
 * - `beforeSend` runs, in order, for buffered answers (JSON from upstream and body
 *   answers of stages) once `ex.responseBody` is complete and before headers go out.
 *   It must be synchronous and cheap.
 * - `after` runs once per exchange that reached `before` of this stage, in reverse order,
 *   after the client has its last byte (or left). Errors are logged, never re-thrown.
 */
export interface Stage {
  readonly name: string
  before? (ex: Exchange): void | StageAnswer | Promise<void | StageAnswer>
  beforeSend? (ex: Exchange): void
  after? (ex: Exchange): void | Promise<void>
}
