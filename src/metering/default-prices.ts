import type { PriceEntry } from './price-entry.js'
import { priceOf } from './price-entry.js'

/**
 * The built-in price table, USD per 1M tokens, for the models people most often call
 * through CometAPI's OpenAI-compatible API. Sources and assumptions:
 * - `gpt-5.2-chat-latest` is the gateway's documented default (1.40 / 0.175 / 11.20).
 * - Every other entry is the model maker's published list price for text tokens (OpenAI,
 *   Anthropic, Google, DeepSeek and xAI pricing pages, late 2025). CometAPI usually
 *   charges at or below list price, so these err on the side of a budget running out
 *   early, never late. Put your own rates in the config file's `pricing` (or point
 *   `PRICING_FILE` at a maintained list) to meter what you actually pay.
 * - Batch prices are half the list price where the maker offers its batch discount.
 * - Tiered prices (Gemini above 200k prompt tokens) use the lower tier.
 * - Models whose output is billed per image, per second or per character (dall-e,
 *   whisper-1, tts-1) have no entry: their answers carry no token usage to price.
 *   Image and audio models that report tokens use their image or audio token rates,
 *   which are the higher ones.
 * - Dated snapshots (`gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`) find their
 *   family's entry through the price table's date-suffix rule.
 */
type Row = readonly [input: number, cachedInput: number | null, output: number, maxOutputTokens?: number, batch?: boolean]

const ROWS: Record<string, Row> = {
  // OpenAI
  'gpt-5.2-chat-latest': [1.40, 0.175, 11.20, 16_384],
  'gpt-5.2': [1.75, 0.175, 14, 128_000, true],
  'gpt-5.2-pro': [21, null, 168, 128_000, true],
  'gpt-5.1': [1.25, 0.125, 10, 128_000, true],
  'gpt-5.1-chat-latest': [1.25, 0.125, 10, 16_384],
  'gpt-5.1-codex': [1.25, 0.125, 10, 128_000],
  'gpt-5.1-codex-mini': [0.25, 0.025, 2, 128_000],
  'gpt-5': [1.25, 0.125, 10, 128_000, true],
  'gpt-5-chat-latest': [1.25, 0.125, 10, 16_384],
  'gpt-5-codex': [1.25, 0.125, 10, 128_000],
  'gpt-5-mini': [0.25, 0.025, 2, 128_000, true],
  'gpt-5-nano': [0.05, 0.005, 0.40, 128_000, true],
  'gpt-5-pro': [15, null, 120, 272_000, true],
  'gpt-4.1': [2, 0.50, 8, 32_768, true],
  'gpt-4.1-mini': [0.40, 0.10, 1.60, 32_768, true],
  'gpt-4.1-nano': [0.10, 0.025, 0.40, 32_768, true],
  'gpt-4o': [2.50, 1.25, 10, 16_384, true],
  'gpt-4o-mini': [0.15, 0.075, 0.60, 16_384, true],
  o1: [15, 7.50, 60, 100_000, true],
  o3: [2, 0.50, 8, 100_000, true],
  'o3-pro': [20, null, 80, 100_000, true],
  'o3-mini': [1.10, 0.55, 4.40, 100_000, true],
  'o4-mini': [1.10, 0.275, 4.40, 100_000, true],
  'gpt-image-1': [10, 2.50, 40],
  'gpt-image-1-mini': [2.50, 0.25, 8],
  'gpt-4o-transcribe': [6, null, 10],
  'gpt-4o-mini-transcribe': [3, null, 5],
  'gpt-4o-mini-tts': [0.60, null, 12],
  'gpt-realtime': [32, 0.40, 64],
  'gpt-realtime-mini': [10, 0.30, 20],
  'text-embedding-3-small': [0.02, null, 0, undefined, true],
  'text-embedding-3-large': [0.13, null, 0, undefined, true],
  'text-embedding-ada-002': [0.10, null, 0, undefined, true],
  'omni-moderation-latest': [0, null, 0],
  'text-moderation-latest': [0, null, 0],
  // Anthropic
  'claude-opus-4-5': [5, 0.50, 25, 64_000, true],
  'claude-opus-4-1': [15, 1.50, 75, 32_000, true],
  'claude-opus-4': [15, 1.50, 75, 32_000, true],
  'claude-sonnet-4-5': [3, 0.30, 15, 64_000, true],
  'claude-sonnet-4': [3, 0.30, 15, 64_000, true],
  'claude-haiku-4-5': [1, 0.10, 5, 64_000, true],
  'claude-3-7-sonnet': [3, 0.30, 15, 64_000, true],
  'claude-3-5-haiku': [0.80, 0.08, 4, 8_192, true],
  // Google
  'gemini-3-pro-preview': [2, 0.20, 12, 65_536],
  'gemini-2.5-pro': [1.25, 0.125, 10, 65_536, true],
  'gemini-2.5-flash': [0.30, 0.03, 2.50, 65_536, true],
  'gemini-2.5-flash-lite': [0.10, 0.01, 0.40, 65_536, true],
  'gemini-2.0-flash': [0.10, 0.025, 0.40, 8_192, true],
  // DeepSeek
  'deepseek-chat': [0.28, 0.028, 0.42, 8_192],
  'deepseek-reasoner': [0.28, 0.028, 0.42, 64_000],
  // xAI
  'grok-4': [3, 0.75, 15],
  'grok-4-fast': [0.20, 0.05, 0.50],
  'grok-3': [3, 0.75, 15],
  'grok-3-mini': [0.30, 0.075, 0.50],
  'grok-code-fast-1': [0.20, 0.02, 1.50]
}

/** Half a price, exactly: list prices here have few enough decimals to halve in decimal text. */
const half = (usd: number): string => (usd / 2).toString()

export const DEFAULT_PRICES: Readonly<Record<string, PriceEntry>> = Object.freeze(Object.fromEntries(
  Object.entries(ROWS).map(([model, [input, cached, output, max, batch]]) => [model, priceOf({
    input,
    output,
    ...(cached !== null ? { cached_input: cached } : {}),
    ...(max !== undefined ? { max_output_tokens: max } : {}),
    ...(batch === true ? { batch_input: half(input), batch_output: half(output) } : {})
  })])
))
