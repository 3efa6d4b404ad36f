import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { priceEntrySchema, type PriceEntry } from './price-entry.js'

/**
 * Reads `PRICING_FILE`: a JSON or YAML object of model → price entry, in our format or
 * LiteLLM's, so a team can point at a maintained list such as LiteLLM's
 * `model_prices_and_context_window.json` as it is published. LiteLLM entries that price
 * no input tokens (per image, per second, per character) and its `sample_spec` entry
 * are skipped; any other entry that does not validate is an error naming the model.
 * @throws Error with a one-line message (the config loader prefixes the setting).
 * @example readPricingFile('./model_prices_and_context_window.json')['gpt-4o']
 */
export function readPricingFile (path: string): Record<string, PriceEntry> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`)
  }
  let data: unknown
  try {
    data = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text)
  } catch (err) {
    throw new Error(`${path} is not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`)
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Error(`${path} must hold an object of model → price`)
  const out: Record<string, PriceEntry> = {}
  for (const [model, entry] of Object.entries(data as Record<string, unknown>)) {
    if (model === 'sample_spec') continue
    const fromLiteLlm = entry !== null && typeof entry === 'object' && 'litellm_provider' in entry
    if (fromLiteLlm && !('input_cost_per_token' in entry)) continue
    const result = priceEntrySchema.safeParse(entry)
    if (!result.success) {
      const issue = result.error.issues[0]!
      throw new Error(`${model}${issue.path.length > 0 ? '.' + issue.path.join('.') : ''}: ${issue.message}`)
    }
    out[model] = result.data
  }
  return out
}
