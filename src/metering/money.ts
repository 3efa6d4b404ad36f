/**
 * Money as integers. Prices are kept in nano-dollars per 1M tokens (= 1e-15 USD per
 * token), costs in nano-dollars (1e-9 USD). Every sum is an integer, so totals are exact;
 * USD appears only at the edge (headers, JSON, metrics).
 *
 *   USD per 1M tokens ──×1e9──▶ nano-USD per 1M tokens (bigint, once at start-up)
 *   tokens × price ──Σ classes──▶ 1e-15 USD ──÷1e6, half up──▶ nano-USD per request
 */

export const NANOS_PER_USD = 1_000_000_000
const NANOS_PER_USD_BIG = 1_000_000_000n
const TOKENS_PER_MILLION = 1_000_000n

/**
 * A price written in USD per 1M tokens → nano-dollars per 1M tokens, exact for prices
 * with up to 9 decimals (more are rounded to the nearest 1e-9 USD per 1M tokens).
 * Goes through the decimal text of the number so that 1.4 becomes exactly 1_400_000_000
 * (1.4 × 1e9 in floating point is 1400000000.0000002).
 */
export function usdPerMillionToNanos (usd: number): bigint {
  if (!Number.isFinite(usd) || usd < 0) throw new RangeError(`bad price ${usd}`)
  const [int, frac = ''] = usd.toFixed(10).split('.') as [string, string?]
  const nanos = BigInt(int) * NANOS_PER_USD_BIG + BigInt(frac.slice(0, 9))
  // The 10th decimal rounds half up.
  return frac.charCodeAt(9) >= 0x35 ? nanos + 1n : nanos
}

/**
 * Σ tokens × (nano-USD per 1M tokens), divided by 1M once, rounded half up to a whole
 * nano-dollar. Rounding happens once per request, never per token class.
 */
export function costNanos (terms: ReadonlyArray<readonly [tokens: number, nanosPerMillion: bigint]>): number {
  let femto = 0n
  for (const [tokens, price] of terms) {
    if (tokens > 0) femto += BigInt(tokens) * price
  }
  return Number((femto + TOKENS_PER_MILLION / 2n) / TOKENS_PER_MILLION)
}

/**
 * Integer nano-dollars → the exact decimal USD string (no float on the way):
 * 6265000 → "0.006265", 0 → "0", 1_500_000_000 → "1.5".
 */
export function formatUsd (nanos: number): string {
  const sign = nanos < 0 ? '-' : ''
  const abs = Math.abs(Math.trunc(nanos))
  const int = Math.floor(abs / NANOS_PER_USD)
  const frac = String(abs % NANOS_PER_USD).padStart(9, '0').replace(/0+$/, '')
  return sign + String(int) + (frac === '' ? '' : '.' + frac)
}

/**
 * Nano-dollars → USD as a JSON number. Division by 1e9 is correctly rounded, so the
 * number prints as the exact decimal for any integer below 2^53 (about $9M).
 */
export function nanosToUsd (nanos: number): number {
  return nanos / NANOS_PER_USD
}
