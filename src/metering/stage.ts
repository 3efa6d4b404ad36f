import type { Exchange, Stage, StreamObserver, UsageSummary } from '../proxy/exchange.js'
import { sseData } from '../proxy/sse-scanner.js'
import { ESTIMATE_KEEP_BYTES, estimateInputTokens, estimateOutputTokens, estimateUsage } from './estimate.js'
import { formatUsd } from './money.js'
import { priceUsage, type PricedModel, type PriceTable } from './pricing.js'
import type { UsageRecord } from './record.js'
import type { BackgroundBilling, Settled } from './background.js'
import { lastUsageValue, normalizeUsage, usageFromJson, usageFromStreamEvent, type TokenUsage } from './usage.js'

export interface MeteringStageOptions {
  readonly prices: PriceTable
  /** Receives the one record of each metered request (ledger and metrics). */
  readonly onRecord: (record: UsageRecord, estimateReason: string | undefined) => void
  /** Bills background responses when they are read back finished (optional). */
  readonly background?: BackgroundBilling
}

const CHAT = '/v1/chat/completions'
const USAGE = Buffer.from('"usage"')
const COST_HEADER = 'x-gateway-cost-usd'

/**
 * Requests that can consume tokens: POSTs, except the `/v1/responses/{id}` family, whose
 * answers repeat the usage of a response that was metered when it was created.
 */
function isMetered (ex: Exchange): boolean {
  return ex.method === 'POST' && !ex.route.startsWith('/v1/responses/{id}')
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

function summary (model: string, u: TokenUsage, cost: number, estimated: boolean, priced: boolean): UsageSummary {
  return { model, inputTokens: u.input, cachedInputTokens: u.cached, outputTokens: u.output, reasoningTokens: u.reasoning, costNanos: cost, estimated, priced }
}

function tokensOf (s: UsageSummary): TokenUsage {
  return { input: s.inputTokens, cached: Math.min(s.cachedInputTokens, s.inputTokens), output: s.outputTokens, reasoning: s.reasoningTokens }
}

/** Prices tokens; a cache hit costs nothing (what it would have cost is its saving). */
function summarize (ex: Exchange, priced: PricedModel, u: TokenUsage, estimated: boolean): UsageSummary {
  const cost = priced.price === undefined || ex.cache === 'HIT' ? 0 : priceUsage(u, priced.price)
  return summary(priced.model, u, cost, estimated, priced.price !== undefined)
}

/** The usage of a stream's last event (the stripped usage chunk or the terminal event). */
function streamUsage (ex: Exchange): TokenUsage | undefined {
  const event = ex.sse?.strippedEvent ?? ex.sse?.lastEvent
  if (event === undefined) return undefined
  const data = sseData(event)
  if (data === undefined || data.charCodeAt(0) !== 0x7b) return undefined
  try {
    return usageFromStreamEvent(JSON.parse(data))
  } catch {
    return undefined
  }
}

/**
 * Watches one streamed answer. Per chunk it only keeps a reference (up to
 * ESTIMATE_KEEP_BYTES) and counts bytes; parsing happens at the end, and the kept
 * chunks are read only when the stream carried no usage (the rare estimate path).
 */
class StreamMeter implements StreamObserver {
  private kept: Buffer[] = []
  private keptBytes = 0
  private totalBytes = 0

  constructor (private readonly priced: PricedModel, private readonly reasons: WeakMap<Exchange, string>) {}

  onChunk (chunk: Buffer): void {
    this.totalBytes += chunk.length
    if (this.keptBytes < ESTIMATE_KEEP_BYTES) {
      this.kept.push(chunk)
      this.keptBytes += chunk.length
    }
  }

  onEnd (ex: Exchange): void {
    const kept = this.kept
    this.kept = []
    if (ex.usage !== undefined) {
      // Restored by the cache: keep its tokens, charge per this gateway's rules.
      ex.usage = summarize(ex, this.priced, tokensOf(ex.usage), ex.usage.estimated)
      return
    }
    const exact = streamUsage(ex)
    if (exact !== undefined) {
      ex.usage = summarize(ex, this.priced, exact, false)
      return
    }
    if (ex.sse === undefined || ex.status >= 300) return
    const input = estimateInputTokens(ex.json, ex.clientBody?.length ?? 0)
    const output = estimateOutputTokens(kept, this.keptBytes, this.totalBytes)
    this.reasons.set(ex, ex.outcome === 'ok' ? 'no_usage' : ex.outcome)
    ex.usage = summarize(ex, this.priced, estimateUsage(input, output), true)
  }
}

/**
 * The metering stage (see Stage in proxy/exchange.ts):
 * - `before`: the model label; for chat streams without `include_usage`, asks the
 *   upstream for usage and has the relay strip that chunk; a StreamObserver for streams.
 * - `beforeSend` (buffered answers): usage from the JSON body, `x-gateway-cost-usd`.
 * - `after`: one UsageRecord per request with usage → `onRecord`.
 * - background responses (`background`): remembered when created, billed to their
 *   creator once when first read back finished.
 * `ex.usage` is final before any `after` runs, so cache and limits read the same numbers.
 */
export function meteringStage (opts: MeteringStageOptions): Stage {
  const { prices, onRecord, background } = opts
  const reasons = new WeakMap<Exchange, string>()

  const record = (ex: Exchange): void => {
    if (ex.usage !== undefined) onRecord(usageRecord(ex, ex.usage, prices.resolve(ex.model ?? ex.usage.model)), reasons.get(ex))
  }

  /** A finished background response read here is billed to its creator if this read claimed it first. */
  const settled = (ex: Exchange, s: Settled): void => {
    if (s.kind === 'remember') return record(ex)
    if (ex.usage === undefined) return
    if (s.owner === undefined) {
      ex.usage = undefined // another read billed it
      return
    }
    onRecord(usageRecord(ex, ex.usage, prices.resolve(s.owner.model), { id: s.owner.keyId, name: s.owner.keyName }), undefined)
  }

  return {
    name: 'metering',

    before (ex) {
      const priced = prices.resolve(ex.model)
      ex.modelLabel = priced.label
      if (!isMetered(ex)) return background?.lookup(ex)
      if (!ex.stream) return
      if (ex.route === CHAT && ex.json !== undefined && ex.upstreamBody !== undefined && !includesUsage(ex.json)) {
        ex.upstreamBody = withIncludeUsage(ex.upstreamBody, ex.json)
        ex.stripUsageChunk = true
      }
      ex.observers.push(new StreamMeter(priced, reasons))
    },

    beforeSend (ex) {
      const finished = background?.inspect(ex)
      if (finished !== undefined) {
        // Billed to its creator, under the model it was created with (claimed in after()).
        ex.usage = summarize(ex, prices.resolve(finished.owner.model), finished.usage, false)
        ex.responseHeaders[COST_HEADER] = formatUsd(ex.usage.costNanos)
        return
      }
      let priced = prices.resolve(ex.model)
      if (ex.usage !== undefined) {
        ex.usage = summarize(ex, priced, tokensOf(ex.usage), ex.usage.estimated)
      } else if (isMetered(ex) && ex.status < 300 && ex.responseBody !== undefined) {
        // Fast path: parse only the usage object; the whole body when the model must come from it.
        let usage = ex.model !== undefined ? normalizeUsage(lastUsageValue(ex.responseBody)) : undefined
        if (usage === undefined && ex.responseBody.includes(USAGE)) {
          const body = parseJson(ex.responseBody)
          usage = usageFromJson(body)
          const answered = (body as { model?: unknown } | undefined)?.model
          if (usage !== undefined && ex.model === undefined && typeof answered === 'string') {
            priced = prices.resolve(answered)
            ex.modelLabel = priced.label
          }
        }
        if (usage !== undefined) ex.usage = summarize(ex, priced, usage, false)
      }
      const u = ex.usage
      // Tokens without a price: the cost is unknown, not zero, so no header.
      if (u !== undefined && !u.priced && ex.cache !== 'HIT' && (u.inputTokens > 0 || u.outputTokens > 0)) return
      ex.responseHeaders[COST_HEADER] = u === undefined ? '0' : formatUsd(u.costNanos)
    },

    after (ex) {
      const pending = background?.settle(ex)
      if (pending !== undefined) return pending.then((s) => { settled(ex, s) })
      record(ex)
    }
  }
}

/** The one record of an exchange: a cache hit costs 0 and saves what it would have cost. */
function usageRecord (ex: Exchange, u: UsageSummary, priced: PricedModel, key: { id: string, name: string } = ex.key): UsageRecord {
  const hit = ex.cache === 'HIT'
  return {
    keyId: key.id,
    keyName: key.name,
    model: priced.model,
    label: priced.label,
    route: ex.route,
    inputTokens: u.inputTokens,
    cachedInputTokens: u.cachedInputTokens,
    outputTokens: u.outputTokens,
    reasoningTokens: u.reasoningTokens,
    costNanos: hit ? 0 : u.costNanos,
    cacheHit: hit,
    savedNanos: hit && priced.price !== undefined ? priceUsage(tokensOf(u), priced.price) : 0,
    estimated: u.estimated,
    priced: u.priced,
    latencyMs: performance.now() - ex.startedAt,
    atMs: Date.now()
  }
}

function includesUsage (json: Readonly<Record<string, unknown>>): boolean {
  const so = json.stream_options as { include_usage?: unknown } | null | undefined
  return so?.include_usage === true
}

function parseJson (body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}
