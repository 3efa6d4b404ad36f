import { lastUsageValue, normalizeUsage, type TokenUsage } from '../metering/usage.js'
import type { UnitPrice } from '../metering/pricing.js'
import { priceUsage } from '../metering/pricing.js'

/**
 * What a batch used, from the two places its results can be read (pure):
 * - the batch object once it is finished (`usage`, responses-style, `model`);
 * - its output file, one JSON line per request: `{"response":{"status_code":200,
 *   "body":{…,"model","usage"}}}`, summed as the bytes pass.
 * Both give the whole batch's usage (the file only once it is read to the end), so the
 * billing keeps the highest total seen per token class and charges only the rise: read
 * either way, as often as anyone likes, a batch is charged once in full.
 */

export const ZERO: TokenUsage = { input: 0, cached: 0, output: 0, reasoning: 0 }

const FINISHED = new Set(['completed', 'cancelled', 'expired', 'failed'])

export interface BatchUsage {
  readonly usage: TokenUsage
  readonly model: string | undefined
}

/** A finished batch object's usage, or undefined (still running, or no usage reported). */
export function usageOfBatch (body: unknown): BatchUsage | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined
  const b = body as { status?: unknown, usage?: unknown, model?: unknown }
  if (typeof b.status !== 'string' || !FINISHED.has(b.status)) return undefined
  const usage = normalizeUsage(b.usage)
  if (usage === undefined || (usage.input === 0 && usage.output === 0)) return undefined
  return { usage, model: typeof b.model === 'string' ? b.model : undefined }
}

/** The per-class rise from `billed` to `seen` (never negative). */
export function rise (billed: TokenUsage, seen: TokenUsage): TokenUsage {
  return {
    input: Math.max(0, seen.input - billed.input),
    cached: Math.max(0, seen.cached - billed.cached),
    output: Math.max(0, seen.output - billed.output),
    reasoning: Math.max(0, seen.reasoning - billed.reasoning)
  }
}

/** The per-class maximum: what has been billed after charging the rise. */
export function highest (a: TokenUsage, b: TokenUsage): TokenUsage {
  return { input: Math.max(a.input, b.input), cached: Math.max(a.cached, b.cached), output: Math.max(a.output, b.output), reasoning: Math.max(a.reasoning, b.reasoning) }
}

export function isZero (u: TokenUsage): boolean {
  return u.input === 0 && u.cached === 0 && u.output === 0 && u.reasoning === 0
}

/** A price with the optional batch rates some pricing tables give (USD per 1M, as nano). */
export interface BatchRates {
  readonly batchInput?: bigint
  readonly batchOutput?: bigint
}

/**
 * The price a batch is charged at: the table's batch rates when it has them, else the
 * ordinary ones. Cached input is charged at the lower of its own rate and the batch input
 * rate (both discounts apply to batch requests upstream; the table says nothing finer).
 */
export function batchPrice (price: UnitPrice & BatchRates): UnitPrice {
  const input = price.batchInput ?? price.input
  const output = price.batchOutput ?? price.output
  const cachedInput = price.cachedInput < input ? price.cachedInput : input
  return { input, cachedInput, output }
}

/** Nano-dollars for a batch's tokens at its batch price. */
export function batchCost (usage: TokenUsage, price: UnitPrice & BatchRates): number {
  return priceUsage(usage, batchPrice(price))
}

/** A line longer than this (16 MiB) is not parsed: its usage is then unknown. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024

const NL = 0x0a

/**
 * Sums the usage of a batch output file as its chunks pass. Keeps only the unfinished
 * last line between chunks; each complete line is parsed once.
 */
export class OutputFileUsage {
  private input = 0
  private cached = 0
  private output = 0
  private reasoning = 0
  private carry: Buffer[] = []
  private carryBytes = 0
  private skipping = false
  /** The model of the first line that names one. */
  model: string | undefined
  /** Lines too long to read: the total is a lower bound. */
  skipped = 0

  push (chunk: Buffer): void {
    let start = 0
    for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, start)) {
      this.#line(chunk.subarray(start, nl))
      start = nl + 1
    }
    if (start < chunk.length) this.#keep(chunk.subarray(start))
  }

  /** The usage of every complete line so far (and of a last line without a newline). */
  finish (): TokenUsage {
    if (this.carryBytes > 0 || this.skipping) this.#line(Buffer.alloc(0))
    return { input: this.input, cached: this.cached, output: this.output, reasoning: this.reasoning }
  }

  #keep (part: Buffer): void {
    if (this.skipping) return
    if (this.carryBytes + part.length > MAX_LINE_BYTES) {
      this.skipping = true
      this.carry = []
      this.carryBytes = 0
      return
    }
    // A copy: the relay may reuse the chunk's memory once it is written.
    this.carry.push(Buffer.from(part))
    this.carryBytes += part.length
  }

  #line (tail: Buffer): void {
    if (this.skipping) {
      this.skipping = false
      this.skipped++
      return
    }
    let line = tail
    if (this.carryBytes > 0) {
      if (this.carryBytes + tail.length > MAX_LINE_BYTES) {
        this.carry = []
        this.carryBytes = 0
        this.skipped++
        return
      }
      line = Buffer.concat([...this.carry, tail])
      this.carry = []
      this.carryBytes = 0
    }
    if (line.length === 0 || line[0] !== 0x7b) return
    // Only the usage object is parsed (the line's last "usage" key is the answer's), so a
    // long answer costs one native search, not a parse.
    const u = normalizeUsage(lastUsageValue(line))
    if (u === undefined) return
    this.input += u.input
    this.cached += u.cached
    this.output += u.output
    this.reasoning += u.reasoning
    if (this.model === undefined) this.model = modelOf(line)
  }
}

const MODEL_KEY = /"model"\s*:\s*"([^"\\]{1,200})"/

/** The first `"model"` string of a line (the answer's, near its start), read from its first 64 KiB. */
function modelOf (line: Buffer): string | undefined {
  return MODEL_KEY.exec(line.toString('utf8', 0, Math.min(line.length, 65_536)))?.[1]
}

/** Bytes metered per turn of the event loop when a whole output file arrived at once. */
const SLICE_BYTES = 256 * 1024

/** Feeds a whole body to `meter` a slice per turn, so a large file never stalls the loop. */
export async function pushInSlices (meter: OutputFileUsage, body: Buffer): Promise<void> {
  for (let i = 0; i < body.length; i += SLICE_BYTES) {
    meter.push(body.subarray(i, i + SLICE_BYTES))
    if (i + SLICE_BYTES < body.length) await new Promise((resolve) => setImmediate(resolve))
  }
}
