import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import type { KeyPrincipal } from '../auth/principal.js'
import type { GatewayError } from '../errors.js'
import { ForwardingHandler, type Controller, type GatewayRequest, type Interceptor, type Outcome, type ResponseEnd, type ResponseHandler, type ResponseHead, type UsageSummary } from '../proxy/interceptor.js'
import { DEFAULT_MAX_EVENT_BYTES, SseScanner, sseData, type Write } from '../proxy/sse-scanner.js'
import { bodyKind, BrokenAnswer } from '../proxy/upstream.js'
import { backgroundReadId, type BackgroundBilling, type BackgroundOwner, type BackgroundStep } from './background.js'
import { ESTIMATE_KEEP_BYTES, estimateInputTokens, estimateOutputTokens, estimateUsage, tokensFromBytes } from './estimate.js'
import { formatUsd } from './money.js'
import { priceUsage, type PricedModel, type PriceTable } from './pricing.js'
import type { UsageRecord } from './record.js'
import { usageChunkHold } from './usage-chunk.js'
import { lastUsageValue, normalizeUsage, usageFromJson, usageFromStreamEvent, type TokenUsage } from './usage.js'

export interface MeteringOptions {
  readonly prices: PriceTable
  /** Receives the one record of each metered request (ledger and metrics). */
  readonly onRecord: (record: UsageRecord, estimateReason: string | undefined) => void
  /** Bills background responses when they are read back finished (optional). */
  readonly background?: BackgroundBilling
  /** An SSE event larger than this ends its stream, estimated (MAX_EVENT_BYTES). */
  readonly maxEventBytes?: number
  /** A compressed buffered body is decoded up to this many bytes (MAX_BUFFERED_BYTES). */
  readonly maxDecodedBytes?: number
}

const CHAT = '/v1/chat/completions'
const USAGE = Buffer.from('"usage"')
const COST_HEADER = 'x-gateway-cost-usd'

/**
 * Requests that can consume tokens: POSTs, except the `/v1/responses/{id}` family, whose
 * answers repeat the usage of a response that was metered when it was created.
 */
function isMetered (req: GatewayRequest): boolean {
  return req.method === 'POST' && !req.route.startsWith('/v1/responses/{id}')
}

/**
 * Adds `stream_options.include_usage: true` to a chat stream request that lacks it. When
 * the body has no `stream_options` the member is spliced in after the opening brace, so
 * every other byte stays as the client wrote it (big integers, spacing, key order).
 */
export function withIncludeUsage (body: Buffer, json: Readonly<Record<string, unknown>>): Buffer {
  if (json.stream_options === undefined) {
    let i = 0
    while (i < body.length && body[i] !== 0x7b) i++
    let j = i + 1
    while (j < body.length && (body[j] === 0x20 || body[j] === 0x0a || body[j] === 0x0d || body[j] === 0x09)) j++
    const member = body[j] === 0x7d ? '"stream_options":{"include_usage":true}' : '"stream_options":{"include_usage":true},'
    return Buffer.concat([body.subarray(0, i + 1), Buffer.from(member), body.subarray(i + 1)])
  }
  const so = json.stream_options
  const options = so !== null && typeof so === 'object' && !Array.isArray(so) ? so : {}
  return Buffer.from(JSON.stringify({ ...json, stream_options: { ...options, include_usage: true } }))
}

function includesUsage (json: Readonly<Record<string, unknown>>): boolean {
  const so = json.stream_options as { include_usage?: unknown } | null | undefined
  return so?.include_usage === true
}

/** Prices tokens; a cache hit costs nothing (what it would have cost is its saving). */
export function summarize (priced: PricedModel, u: TokenUsage, estimated: boolean, hit: boolean): UsageSummary {
  const cost = priced.price === undefined || hit ? 0 : priceUsage(u, priced.price)
  return { model: priced.model, label: priced.label, inputTokens: u.input, cachedInputTokens: u.cached, outputTokens: u.output, reasoningTokens: u.reasoning, costNanos: cost, estimated, priced: priced.price !== undefined }
}

function tokensOf (s: UsageSummary): TokenUsage {
  return { input: s.inputTokens, cached: Math.min(s.cachedInputTokens, s.inputTokens), output: s.outputTokens, reasoning: s.reasoningTokens }
}

/**
 * Token and cost metering as an interceptor:
 * - chat streams without `include_usage` ask the upstream for usage (the body gets the
 *   member) and the usage-only chunk is stripped from what the client receives;
 * - buffered answers: usage from the JSON body (a scan for the last `"usage"` value, the
 *   whole body only when the model must come from it), `x-gateway-cost-usd` in the head;
 * - streams: usage from the last event (or the stripped chunk), estimated when missing;
 *   an event over `maxEventBytes` ends the stream (the upstream request is aborted, and
 *   the client's stream ends cleanly where the event was cut) and is estimated;
 * - answers that could not be read whole are estimated from the bytes that came: a JSON
 *   answer too large to buffer (relayed `piped`), or one that broke before it was sent
 *   (`GW_ERR_UPSTREAM_BROKEN`: the upstream probably consumed the tokens);
 * - the usage goes outwards in `ResponseEnd.usage` and one UsageRecord to `onRecord`;
 * - a cache hit (`x-gateway-cache: HIT` in the head) costs 0 and counts as saved;
 * - background responses: remembered when created, billed to their creator once when
 *   first read back finished.
 * @example compose(terminal, recorder, limits, meteringInterceptor({ prices, onRecord }), cache)
 */
export function meteringInterceptor (opts: MeteringOptions): Interceptor<KeyPrincipal> {
  const { background } = opts
  return (next) => function metering (req, handler) {
    const priced = opts.prices.resolve(req.model)
    if (!isMetered(req)) {
      const id = background !== undefined ? backgroundReadId(req) : undefined
      if (id === undefined) return next(req, new MeterHandler(handler, req, priced, opts, false, false, undefined))
      background!.lookup(id).then((owner) => { next(req, new MeterHandler(handler, req, priced, opts, false, false, owner)) }, () => {})
      return
    }
    if (!req.stream) return next(req, new MeterHandler(handler, req, priced, opts, true, false, undefined))
    if (req.route === CHAT && req.json !== undefined && req.body !== undefined && !includesUsage(req.json)) {
      const asked: GatewayRequest<KeyPrincipal> = { ...req, body: withIncludeUsage(req.body, req.json) }
      return next(asked, new MeterHandler(handler, req, priced, opts, true, true, undefined))
    }
    next(req, new MeterHandler(handler, req, priced, opts, true, false, undefined))
  }
}

/** One request's metering: its own state, nobody else's. */
class MeterHandler extends ForwardingHandler {
  private hit = false
  private status = 0
  private usage: UsageSummary | undefined
  private reason: string | undefined
  private step: BackgroundStep | undefined
  private billTo: BackgroundOwner | undefined
  // Streams only.
  private scanner: SseScanner | undefined
  private write: Write | undefined
  private kept: Buffer[] | undefined
  private keptBytes = 0
  private totalBytes = 0
  private done = false
  private recorded = false
  /** The stream was ended here: an event outgrew `maxEventBytes`. */
  private cut = false
  /** Bytes of a body that should have been buffered but came `piped` (too large), or -1. */
  private pipedBytes = -1

  constructor (
    inner: ResponseHandler,
    private readonly req: GatewayRequest<KeyPrincipal>,
    private priced: PricedModel,
    private readonly opts: MeteringOptions,
    private readonly metered: boolean,
    private readonly strip: boolean,
    /** The creator of the background response this request reads, when known. */
    private readonly owner: BackgroundOwner | undefined
  ) {
    super(inner)
  }

  override onResponseStart (controller: Controller, head: ResponseHead): void {
    this.hit = head.headers['x-gateway-cache'] === 'HIT'
    this.status = head.status
    if (head.kind === 'buffered') {
      this.meterBody(head)
      // Journaled before the head and body go out: a client holding its whole answer
      // (content-length reached) must find its record durable, even under kill -9.
      this.record()
    } else if (head.kind === 'sse' && (this.metered || this.owner !== undefined) && head.status < 300) {
      // Whatever the request asked for: an SSE answer to a non-stream request is metered
      // too, and a background response read back as a stream is billed to its creator.
      this.scanner = new SseScanner(this.strip ? usageChunkHold : undefined, true, this.opts.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES)
      this.kept = []
      this.write = (chunk) => { this.inner.onResponseData(controller, chunk) }
    } else if (head.kind === 'piped' && this.metered && head.status < 300 && bodyKind(head.status, head.headers['content-type']) === 'buffered') {
      // A JSON answer too large to buffer: only its size is seen on the way.
      this.pipedBytes = 0
    }
    this.inner.onResponseStart(controller, head)
  }

  override onResponseData (controller: Controller, chunk: Buffer): void {
    const scanner = this.scanner
    if (scanner === undefined) {
      if (this.pipedBytes >= 0) this.pipedBytes += chunk.length
      this.inner.onResponseData(controller, chunk)
      return
    }
    if (this.cut) return
    // Per chunk only a reference (up to ESTIMATE_KEEP_BYTES) and a count: parsing waits for the end.
    this.totalBytes += chunk.length
    if (this.keptBytes < ESTIMATE_KEEP_BYTES) {
      this.kept!.push(chunk)
      this.keptBytes += chunk.length
    }
    scanner.push(chunk, this.write!)
    if (scanner.overflowed) {
      this.cut = true
      controller.abort(new Error('an upstream SSE event is larger than MAX_EVENT_BYTES'))
    }
  }

  override onResponseEnd (controller: Controller, end: ResponseEnd): void {
    if (this.scanner !== undefined) {
      this.scanner.end(this.write!)
      this.meterStream(end.outcome)
    } else if (this.pipedBytes >= 0 && this.usage === undefined) {
      this.estimateFromBytes(this.pipedBytes, 'too_large')
    }
    const usage = this.usage
    // Recorded (and journaled) before the end goes outwards: limits settles on a spend
    // that is already counted, and the client's last byte follows a durable record.
    if (!this.recorded) this.record()
    // A cut stream ends cleanly for the client, after what was relayed (the terminal saw
    // its own abort, not the client's); the estimate's reason says why.
    const outcome = this.cut ? 'ok' : end.outcome
    this.inner.onResponseEnd(controller, usage === undefined && !this.cut ? end : { outcome, usage })
  }

  override onResponseError (controller: Controller, error: GatewayError): void {
    if (this.scanner !== undefined) this.meterStream('upstream_error')
    else if (error.cause instanceof BrokenAnswer && this.metered && this.usage === undefined) this.estimateFromBytes(error.cause.bytesReceived, 'upstream_error')
    if (!this.recorded) this.record()
    this.inner.onResponseError(controller, error)
  }

  /** A buffered answer: usage from the body, and the cost header. */
  private meterBody (head: ResponseHead): void {
    const body = plainBody(head, this.opts.maxDecodedBytes ?? MAX_DECODED_BYTES)
    const o = this.opts
    if (body === null) {
      // Compressed (despite accept-encoding: identity) in a way that cannot be read: estimated.
      if (this.metered && head.status < 300) this.estimateBuffered(head.body!)
      return
    }
    if (body !== undefined && o.background !== undefined) {
      const b = o.background.inspect(this.req, head.status, body, this.owner)
      if (b !== undefined) {
        this.step = b.step
        if (b.usage !== undefined) {
          // Billed to its creator, under the model it was created with (claimed once the answer is out).
          this.billTo = this.owner
          this.priced = o.prices.resolve(this.owner!.model)
          this.usage = summarize(this.priced, b.usage, false, this.hit)
          head.headers[COST_HEADER] = formatUsd(this.usage.costNanos)
          return
        }
      }
    }
    const req = this.req
    if (this.metered && head.status < 300 && body !== undefined) {
      // Fast path: parse only the usage object; the whole body when the model must come from it.
      let usage = req.model !== undefined ? normalizeUsage(lastUsageValue(body)) : undefined
      if (usage === undefined && body.includes(USAGE)) {
        const parsed = parseJson(body)
        usage = usageFromJson(parsed)
        const answered = (parsed as { model?: unknown } | undefined)?.model
        if (usage !== undefined && req.model === undefined && typeof answered === 'string') this.priced = o.prices.resolve(answered)
      }
      if (usage !== undefined) this.usage = summarize(this.priced, usage, false, this.hit)
    }
    const u = this.usage
    // Tokens without a price: the cost is unknown, not zero, so no header.
    if (u !== undefined && !u.priced && !this.hit && (u.inputTokens > 0 || u.outputTokens > 0)) return
    head.headers[COST_HEADER] = u === undefined ? '0' : formatUsd(u.costNanos)
  }

  /** An answer seen only as a byte count: its output estimated from its size. */
  private estimateFromBytes (bytes: number, reason: string): void {
    const input = estimateInputTokens(this.req.json, this.req.body?.length ?? 0)
    this.reason = reason
    this.usage = summarize(this.priced, estimateUsage(input, tokensFromBytes(bytes)), true, this.hit)
  }

  private estimateBuffered (raw: Buffer): void {
    const input = estimateInputTokens(this.req.json, this.req.body?.length ?? 0)
    this.reason = 'undecodable'
    this.usage = summarize(this.priced, estimateUsage(input, estimateOutputTokens([raw], raw.length, raw.length)), true, this.hit)
  }

  /** A stream is over: usage from its last event (or the stripped chunk), else an estimate. */
  private meterStream (outcome: Outcome): void {
    if (this.done) return
    this.done = true
    const kept = this.kept ?? []
    this.kept = undefined
    const s = this.scanner!
    if (this.cut) {
      // What came of the event that was too large is no whole event: its bytes are the measure.
      if (this.metered && this.status < 300) this.estimateFromBytes(this.totalBytes, 'event_too_large')
      return
    }
    const event = streamEvent(s.strippedEvent ?? s.usageEvent ?? s.lastEvent)
    const exact = usageFromStreamEvent(event)
    if (this.owner !== undefined) {
      this.meterBackgroundStream(event)
      return
    }
    if (exact !== undefined) {
      // No model in the request (a stored prompt): metered under the one the upstream reports.
      const answered = this.req.model === undefined ? streamModel(event) : undefined
      if (answered !== undefined) this.priced = this.opts.prices.resolve(answered)
      this.usage = summarize(this.priced, exact, false, this.hit)
      return
    }
    if (this.status >= 300 || !this.metered) return
    const input = estimateInputTokens(this.req.json, this.req.body?.length ?? 0)
    const output = estimateOutputTokens(kept, this.keptBytes, this.totalBytes)
    this.reason = outcome === 'ok' ? 'no_usage' : outcome
    this.usage = summarize(this.priced, estimateUsage(input, output), true, this.hit)
  }

  /** A background response read back as a stream: billed to its creator once, when finished. */
  private meterBackgroundStream (event: unknown): void {
    const response = (event as { response?: unknown } | undefined)?.response
    const b = response !== undefined ? this.opts.background?.inspectObject(this.req, this.status, response, this.owner) : undefined
    if (b?.usage === undefined) return
    this.step = b.step
    this.billTo = this.owner
    this.priced = this.opts.prices.resolve(this.owner!.model)
    this.usage = summarize(this.priced, b.usage, false, this.hit)
  }

  /** The one record of this request, once the answer is out. */
  private record (): void {
    this.recorded = true
    const o = this.opts
    const step = this.step
    if (step !== undefined && o.background !== undefined) {
      const key = this.req.principal.key
      o.background.settle(step, { keyId: key.id, keyName: key.name, model: this.req.model ?? 'unknown' }).then((s) => {
        if (s.kind === 'remember') return this.emit(undefined)
        // A claim lost: another read billed it.
        if (s.owner !== undefined && this.usage !== undefined) this.emit(s.owner)
      }, () => {})
      return
    }
    this.emit(undefined)
  }

  private emit (owner: BackgroundOwner | undefined): void {
    const u = this.usage
    if (u === undefined) return
    const key = this.req.principal.key
    const who = owner !== undefined ? { id: owner.keyId, name: owner.keyName } : { id: key.id, name: key.name }
    const priced = owner !== undefined ? this.opts.prices.resolve(owner.model) : this.opts.prices.resolve(this.req.model ?? u.model)
    this.opts.onRecord(usageRecord(this.req, u, priced, who, this.hit), this.reason)
  }
}

/** The parsed data of the one event metering reads (the usage chunk or the terminal event). */
function streamEvent (event: Buffer | undefined): unknown {
  if (event === undefined) return undefined
  const data = sseData(event)
  if (data === undefined || data.charCodeAt(0) !== 0x7b) return undefined
  try {
    return JSON.parse(data)
  } catch {
    return undefined
  }
}

/** The model a stream event reports (chat chunk `model`, Responses event `response.model`). */
function streamModel (event: unknown): string | undefined {
  const e = event as { model?: unknown, response?: { model?: unknown } } | undefined
  const m = e?.model ?? e?.response?.model
  return typeof m === 'string' && m !== '' ? m : undefined
}

/**
 * The one record of a request: a cache hit costs 0 and saves what it would have cost.
 * It carries the caller's team when it is billed to the caller (a background response
 * read by another key is billed to its creator, whose team the tracker does not keep).
 */
export function usageRecord (req: GatewayRequest, u: UsageSummary, priced: PricedModel, key: { id: string, name: string }, hit: boolean): UsageRecord {
  const mine = key.id === req.principal.id
  // A plain literal: on Node 20 a literal that starts with a spread and adds fields after
  // it takes V8's slow path, tens of µs per record (bench/micro/usage-record.ts).
  return {
    teamId: mine ? req.principal.teamId : null,
    teamName: mine ? req.principal.teamName : null,
    keyId: key.id,
    keyName: key.name,
    model: priced.model,
    label: priced.label,
    route: req.route,
    inputTokens: u.inputTokens,
    cachedInputTokens: u.cachedInputTokens,
    outputTokens: u.outputTokens,
    reasoningTokens: u.reasoningTokens,
    costNanos: hit ? 0 : u.costNanos,
    cacheHit: hit,
    savedNanos: hit && priced.price !== undefined ? priceUsage(tokensOf(u), priced.price) : 0,
    estimated: u.estimated,
    priced: u.priced,
    latencyMs: performance.now() - req.startedAt,
    atMs: Date.now()
  }
}

/** Decoded answers stop here: a buffered answer is bounded by the same size. */
const MAX_DECODED_BYTES = 64 * 1024 * 1024
const DECODERS: Record<string, (b: Buffer, o: { maxOutputLength: number }) => Buffer> = {
  gzip: gunzipSync, 'x-gzip': gunzipSync, deflate: inflateSync, br: brotliDecompressSync
}

/**
 * The body metering reads: as it came, or decoded when the upstream compressed it anyway
 * (the client still gets the bytes as sent, with their content-encoding); null when it
 * cannot be decoded.
 */
function plainBody (head: ResponseHead, maxDecodedBytes: number): Buffer | undefined | null {
  const body = head.body
  const encoding = head.headers['content-encoding']
  if (body === undefined || encoding === undefined || body.length === 0) return body
  const name = String(encoding).trim().toLowerCase()
  if (name === 'identity' || name === '') return body
  const decode = DECODERS[name]
  if (decode === undefined) return null
  try {
    return decode(body, { maxOutputLength: maxDecodedBytes })
  } catch {
    return null
  }
}

function parseJson (body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}
