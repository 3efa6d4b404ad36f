import { z } from 'zod'
import { scaledDecimal } from './decimal.js'

/**
 * One entry of a pricing table, in either of two formats, normalised to exact
 * nano-dollars per 1M tokens:
 *
 * - ours, USD per 1M tokens: `{ input, cached_input?, output, batch_input?, batch_output?,
 *   max_output_tokens? }`;
 * - LiteLLM's (`model_prices_and_context_window.json`), USD per token:
 *   `{ input_cost_per_token, output_cost_per_token, cache_read_input_token_cost?,
 *   input_cost_per_token_batches?, output_cost_per_token_batches?, max_output_tokens?, … }`;
 *   its other fields (context sizes, capabilities, tiered and per-image prices) are ignored.
 *
 * Prices are numbers or decimal strings (`"1.40"`); either is converted without floats.
 */

const usd = z.union([z.number().nonnegative().finite(), z.string().regex(/^\d*\.?\d+(e[+-]?\d+)?$/i, 'must be a decimal number')])
const maxTokens = z.number().int().positive()

const oursSchema = z.strictObject({
  input: usd,
  cached_input: usd.optional(),
  output: usd,
  batch_input: usd.optional(),
  batch_output: usd.optional(),
  max_output_tokens: maxTokens.optional()
})

const litellmSchema = z.looseObject({
  input_cost_per_token: usd,
  output_cost_per_token: usd.optional(),
  cache_read_input_token_cost: usd.optional(),
  input_cost_per_token_batches: usd.optional(),
  output_cost_per_token_batches: usd.optional(),
  // LiteLLM's own sample entry documents fields with strings: anything but a count is ignored.
  max_output_tokens: z.unknown().optional()
})

/** A price entry as the metering code uses it: nano-dollars per 1M tokens. */
export interface PriceEntry {
  readonly input: bigint
  /** Cached input tokens; the input price when the entry gives none. */
  readonly cachedInput: bigint
  readonly output: bigint
  /** Batch prices, when the entry has them (else batches cost what other requests cost). */
  readonly batchInput?: bigint
  readonly batchOutput?: bigint
  /** The model's output cap: bounds the worst case reserved against budgets. */
  readonly maxOutputTokens?: number
}

const PER_MILLION = 9 // USD per 1M tokens → nano-USD per 1M tokens
const PER_TOKEN = 15 // USD per token → nano-USD per 1M tokens

/** True when `value` is written in LiteLLM's format. */
export function isLiteLlmEntry (value: unknown): boolean {
  return value !== null && typeof value === 'object' && 'input_cost_per_token' in value
}

function normalize (v: z.infer<typeof oursSchema> | z.infer<typeof litellmSchema>): PriceEntry {
  if ('input_cost_per_token' in v) {
    const input = scaledDecimal(v.input_cost_per_token, PER_TOKEN)
    const max = maxTokens.safeParse(v.max_output_tokens)
    return {
      input,
      cachedInput: v.cache_read_input_token_cost === undefined ? input : scaledDecimal(v.cache_read_input_token_cost, PER_TOKEN),
      output: v.output_cost_per_token === undefined ? 0n : scaledDecimal(v.output_cost_per_token, PER_TOKEN),
      ...(v.input_cost_per_token_batches !== undefined ? { batchInput: scaledDecimal(v.input_cost_per_token_batches, PER_TOKEN) } : {}),
      ...(v.output_cost_per_token_batches !== undefined ? { batchOutput: scaledDecimal(v.output_cost_per_token_batches, PER_TOKEN) } : {}),
      ...(max.success ? { maxOutputTokens: max.data } : {})
    }
  }
  const input = scaledDecimal(v.input, PER_MILLION)
  return {
    input,
    cachedInput: v.cached_input === undefined ? input : scaledDecimal(v.cached_input, PER_MILLION),
    output: scaledDecimal(v.output, PER_MILLION),
    ...(v.batch_input !== undefined ? { batchInput: scaledDecimal(v.batch_input, PER_MILLION) } : {}),
    ...(v.batch_output !== undefined ? { batchOutput: scaledDecimal(v.batch_output, PER_MILLION) } : {}),
    ...(v.max_output_tokens !== undefined ? { maxOutputTokens: v.max_output_tokens } : {})
  }
}

/**
 * The schema of one pricing entry (config file `pricing`, `PRICING_FILE`): picks the
 * format by its fields, so a mistake is reported against the format meant.
 */
export const priceEntrySchema = z.unknown().transform((value, ctx): PriceEntry => {
  const result = (isLiteLlmEntry(value) ? litellmSchema : oursSchema).safeParse(value)
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path, input: value })
    return z.NEVER
  }
  return normalize(result.data)
})

/** An entry in our format (USD per 1M tokens), converted: for tables written in code. */
export function priceOf (entry: z.input<typeof oursSchema>): PriceEntry {
  return normalize(oursSchema.parse(entry))
}
