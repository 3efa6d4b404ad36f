import { priceUsage, type PricedModel } from '../metering/pricing.js'

/**
 * What a request may cost at worst, decided before it is relayed, and the rule that
 * admits it against a budget or a minute's tokens. Pure: the limiter backends (memory,
 * Redis Lua) apply `admits` to their own state, atomically.
 *
 *   body bytes ──÷ BYTES_PER_TOKEN──▶ input tokens ─┐
 *   max_tokens ∧ model's max_output_tokens ─────────┼─▶ claim { tokens, nanos }
 *   (else RESERVE_OUTPUT_TOKENS)                    ┘        │ input at the full input price
 *                                                            ▼ (no cache discount), output at the output price
 *   admitted ⇔ used < limit ∧ (used + open + claim ≤ limit ∨ open = 0)
 */

/**
 * Bytes of a JSON body per input token. OpenAI's rule of thumb is about 4 bytes of
 * English text per token; a JSON body carries keys, quotes and escapes on top of its
 * text, so its whole length over 4 is above the text's tokens for most inputs (CJK text,
 * about 3 bytes a token, is the exception: under-reserved by up to a quarter).
 * The whole body length is used, not a walk of its strings: constant work whatever
 * the body's size or shape.
 */
export const BYTES_PER_TOKEN = 4

/** Request fields that bound the output, in the order they are read (chat, legacy chat, Responses). */
const MAX_FIELDS = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const

/** The worst case of one request, reserved against every tpm and budget that applies. */
export interface Claim {
  /** Input estimate + output reservation. */
  readonly tokens: number
  /** Worst-case cost in nano-dollars (0 for a model without a price). */
  readonly nanos: number
}

export const NO_CLAIM: Claim = { tokens: 0, nanos: 0 }

/**
 * Input tokens of a request, from its body length alone. A body that is not JSON
 * (multipart uploads: audio, images, files) counts 0: its bytes say nothing about the
 * tokens it is billed for, and its output reservation still applies.
 * @example inputEstimate(body.length, true) // 1_000 bytes → 250 tokens
 */
export function inputEstimate (bodyBytes: number, isJson: boolean): number {
  if (!isJson || bodyBytes <= 0) return 0
  return Math.ceil(bodyBytes / BYTES_PER_TOKEN)
}

/** The request's own bound on output tokens: the first of its max fields that is a positive integer. */
export function requestedMaxOutput (json: Readonly<Record<string, unknown>> | undefined): number | undefined {
  if (json === undefined) return undefined
  for (const f of MAX_FIELDS) {
    const v = json[f]
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v
  }
  return undefined
}

/**
 * Output tokens to reserve: the request's max tokens capped by the model's
 * `max_output_tokens`; without a request max, the model's `max_output_tokens`; without
 * either, `fallback` (RESERVE_OUTPUT_TOKENS).
 * @example outputReservation(500, 128_000, 4096) // 500
 */
export function outputReservation (requested: number | undefined, modelMax: number | undefined, fallback: number): number {
  if (requested !== undefined) return modelMax !== undefined ? Math.min(requested, modelMax) : requested
  return modelMax ?? fallback
}

/**
 * The claim of a request: its tokens, and their cost at the model's prices with every
 * input token at the full input price (the cache discount is not known in advance).
 */
export function claimOf (inputTokens: number, outputTokens: number, priced: PricedModel): Claim {
  const nanos = priced.price === undefined ? 0 : priceUsage({ input: inputTokens, cached: 0, output: outputTokens, reasoning: 0 }, priced.price)
  return { tokens: inputTokens + outputTokens, nanos }
}

/**
 * The admission rule, for a budget (nano-dollars: `used` = spend of the period) and for
 * tpm (tokens: `used` = the minute's tokens taken). `open` is what other admitted
 * requests still hold. A request is admitted while everything fits; or, when nothing
 * else is open and the limit is not reached yet, whatever it claims: so one request
 * larger than the whole limit still runs once, and concurrent requests never pass the
 * limit by more than one request's claim.
 * @example admits({ used: 0, open: 0, claim: 5e7, limit: 1e7 }) // true: nothing else open
 */
export function admits (s: { readonly used: number, readonly open: number, readonly claim: number, readonly limit: number }): boolean {
  if (s.used >= s.limit) return false
  return s.open === 0 || s.used + s.open + s.claim <= s.limit
}

/**
 * The model's output cap as the pricing table gives it (`max_output_tokens` of the entry
 * that priced the model); undefined when the entry has none.
 * @example outputCap(prices.resolve('gpt-5.2'))
 */
export function outputCap (priced: PricedModel): number | undefined {
  const v = priced.price?.maxOutputTokens
  return typeof v === 'number' && v > 0 ? v : undefined
}
