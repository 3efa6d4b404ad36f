/**
 * Bounds on the work a client's JSON body may cause, checked before `JSON.parse`
 * allocates anything that grows with the input. `JSON.parse` itself copes with deep or
 * wide input, but what it builds does not: ten million empty arrays take hundreds of MB
 * of heap, and every later walk of a 100,000-deep body (cache key, rewrites) overflows the
 * stack. One pass over the bytes, no allocation but a small stack of container kinds.
 */

export const MAX_JSON_DEPTH = 256
export const MAX_JSON_VALUES = 1_000_000

/**
 * Bodies shorter than this cannot break either bound (257 nested openers and their
 * closers take 514 bytes; a million values, two bytes each at least), so the scan is skipped.
 */
const SCAN_FROM_BYTES = 2 * MAX_JSON_DEPTH

export type JsonBoundsVerdict =
  | { ok: true }
  | { ok: false, reason: 'depth' | 'values', limit: number }

const OBJECT = 1
const ARRAY = 2

/**
 * Counts nesting depth and values (every scalar, array and object; object keys are not
 * values) of `body` without parsing it. Malformed input is not judged here: `JSON.parse`
 * reports it afterwards; the scan only has to stay linear and allocation-free on it.
 * @example checkJsonBounds(Buffer.from('[[1,2],{"a":3}]')) // { ok: true } (depth 2, 6 values)
 */
export function checkJsonBounds (body: Uint8Array, maxDepth = MAX_JSON_DEPTH, maxValues = MAX_JSON_VALUES): JsonBoundsVerdict {
  if (body.length < SCAN_FROM_BYTES && maxDepth >= MAX_JSON_DEPTH && maxValues >= MAX_JSON_VALUES) return { ok: true }
  const kinds = new Uint8Array(maxDepth + 1)
  let depth = 0
  let values = 0
  // The last significant byte outside strings: tells a key from a string value and where a value starts.
  let prev = 0x5b // as if inside an array: the top-level value counts
  const n = body.length
  for (let i = 0; i < n; i++) {
    const c = body[i]!
    switch (c) {
      case 0x20: case 0x0a: case 0x0d: case 0x09:
        continue
      case 0x22: { // string: a value unless it is an object key (after `{` or `,` in an object)
        const isKey = depth > 0 && kinds[depth - 1] === OBJECT && (prev === 0x7b || prev === 0x2c)
        if (!isKey && ++values > maxValues) return { ok: false, reason: 'values', limit: maxValues }
        i++
        while (i < n) {
          const s = body[i]!
          if (s === 0x5c) i += 2
          else if (s === 0x22) break
          else i++
        }
        prev = 0x22
        continue
      }
      case 0x7b: case 0x5b:
        if (++values > maxValues) return { ok: false, reason: 'values', limit: maxValues }
        if (depth === maxDepth) return { ok: false, reason: 'depth', limit: maxDepth }
        kinds[depth++] = c === 0x7b ? OBJECT : ARRAY
        prev = c
        continue
      case 0x7d: case 0x5d:
        if (depth > 0) depth--
        prev = c
        continue
      case 0x2c: case 0x3a:
        prev = c
        continue
      default:
        // A number or literal starts right after `[`, `,` or `:` (or at the top); its other bytes follow `prev` = itself.
        if (prev === 0x5b || prev === 0x2c || prev === 0x3a) {
          if (++values > maxValues) return { ok: false, reason: 'values', limit: maxValues }
        }
        prev = 0x30
    }
  }
  return { ok: true }
}

/**
 * How many bytes of bodies are being read and parsed at once, process-wide: beyond the
 * limit a request is refused (503 with retry-after) instead of growing the heap. Each
 * admitted body is released once, when its parse is done or the request ended.
 */
export class ParsingBudget {
  private inUse = 0

  constructor (readonly limit: number) {}

  /**
   * Takes `bytes` of the budget; false when that would pass the limit. A body alone may
   * use it all: `held` is what the caller holds already (a body counted as it arrives),
   * so it never competes with itself.
   */
  tryAcquire (bytes: number, held = 0): boolean {
    if (this.inUse - held > 0 && this.inUse + bytes > this.limit) return false
    this.inUse += bytes
    return true
  }

  release (bytes: number): void {
    this.inUse = Math.max(0, this.inUse - bytes)
  }

  get bytesInUse (): number {
    return this.inUse
  }
}

/**
 * One request's share of a `ParsingBudget`: taken as its body is declared or arrives,
 * given back exactly once however the request ends (parsed, refused, aborted).
 * @example const claim = new ParsingClaim(budget); if (!claim.take(len)) refuse(); … claim.release()
 */
export class ParsingClaim {
  private held = 0
  private done = false

  constructor (private readonly budget: ParsingBudget) {}

  /** Adds `bytes` to the claim; false (nothing taken) when the budget cannot give them or the claim was released. */
  take (bytes: number): boolean {
    if (this.done || !this.budget.tryAcquire(bytes, this.held)) return false
    this.held += bytes
    return true
  }

  /** Gives everything back; later calls do nothing. */
  release (): void {
    if (this.done) return
    this.done = true
    this.budget.release(this.held)
    this.held = 0
  }

  get bytes (): number {
    return this.held
  }
}
