/**
 * Exact decimal scaling for prices: a price as people write it (`1.4`, `0.0000014`,
 * `1.4e-6`, or the string `"1.40"`) times 10^scale, as an integer, rounded half up at
 * the last kept digit. No floating-point multiplication happens: 1.4e-6 × 1e15 in
 * floating point is 1399999999.9999998, here it is 1_400_000_000.
 */

const DECIMAL = /^(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i

/**
 * `value` × 10^`scale` as a bigint. A number goes through its shortest round-trip text
 * (`String(n)`), which is the decimal literal it was written as for any price with up
 * to 15 significant digits.
 * @example scaledDecimal(1.4e-6, 15) // 1_400_000_000n (nano-dollars per 1M tokens of a per-token USD price)
 * @throws RangeError for negative, non-finite or non-decimal input.
 */
export function scaledDecimal (value: number | string, scale: number): bigint {
  if (typeof value === 'number' && (!Number.isFinite(value) || value < 0)) throw new RangeError(`bad price ${value}`)
  const m = DECIMAL.exec(String(value).trim())
  if (m === null || (m[1] === '' && (m[2] ?? '') === '')) throw new RangeError(`bad price ${String(value)}`)
  const digits = (m[1] ?? '') + (m[2] ?? '')
  // The decimal point sits after `point` digits of `digits`; move it right by `scale`.
  const point = (m[1] ?? '').length + Number(m[3] ?? 0) + scale
  if (point >= digits.length) return BigInt((digits || '0') + '0'.repeat(point - digits.length))
  if (point < 0) return 0n
  const kept = BigInt(digits.slice(0, point) || '0')
  return digits.charCodeAt(point) >= 0x35 ? kept + 1n : kept
}
