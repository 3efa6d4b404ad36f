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
const OK: JsonBoundsVerdict = { ok: true }

/**
 * Counts nesting depth and values (every scalar, array and object; object keys are not
 * values) of `body` without parsing it. Malformed input is not judged here: `JSON.parse`
 * reports it afterwards; the scan only has to stay linear and allocation-free on it.
 * @example checkJsonBounds(Buffer.from('[[1,2],{"a":3}]')) // { ok: true } (depth 2, 6 values)
 */
export function checkJsonBounds (body: Uint8Array, maxDepth = MAX_JSON_DEPTH, maxValues = MAX_JSON_VALUES): JsonBoundsVerdict {
  if (body.length < SCAN_FROM_BYTES && maxDepth >= MAX_JSON_DEPTH && maxValues >= MAX_JSON_VALUES) return OK
  return new JsonBoundsScanner(maxDepth, maxValues).feed(body)
}

/**
 * The same count over a body that arrives in pieces, so that a body over the bounds is
 * refused after the bytes that broke them, not after all of them. Once refused, later
 * pieces are ignored.
 * @example const s = new JsonBoundsScanner(); s.feed(Buffer.from('[[')); s.feed(Buffer.from(']]')) // { ok: true }
 */
export class JsonBoundsScanner {
  private readonly kinds: Uint8Array
  private depth = 0
  private values = 0
  // The last significant byte outside strings: tells a key from a string value and where a value starts.
  private prev = 0x5b // as if inside an array: the top-level value counts
  private inString = false
  private escaped = false
  private verdict: JsonBoundsVerdict = OK

  constructor (private readonly maxDepth = MAX_JSON_DEPTH, private readonly maxValues = MAX_JSON_VALUES) {
    this.kinds = new Uint8Array(maxDepth + 1)
  }

  /** Scans the next piece; the verdict on everything fed so far. */
  feed (piece: Uint8Array): JsonBoundsVerdict {
    if (!this.verdict.ok) return this.verdict
    const { kinds, maxDepth, maxValues } = this
    let { depth, values, prev, inString, escaped } = this
    const n = piece.length
    let refused: JsonBoundsVerdict | undefined
    // A refusal sets `refused` and ends the loop (i = n).
    for (let i = 0; i < n; i++) {
      if (inString) {
        // Inside a string only a quote that is not escaped matters.
        for (; i < n; i++) {
          const s = piece[i]!
          if (escaped) escaped = false
          else if (s === 0x5c) escaped = true
          else if (s === 0x22) { inString = false; prev = 0x22; break }
        }
        continue
      }
      const c = piece[i]!
      switch (c) {
        case 0x20: case 0x0a: case 0x0d: case 0x09:
          continue
        case 0x22: { // string: a value unless it is an object key (after `{` or `,` in an object)
          const isKey = depth > 0 && kinds[depth - 1] === OBJECT && (prev === 0x7b || prev === 0x2c)
          if (!isKey && ++values > maxValues) { refused = { ok: false, reason: 'values', limit: maxValues }; i = n; continue }
          inString = true
          continue
        }
        case 0x7b: case 0x5b:
          if (++values > maxValues) { refused = { ok: false, reason: 'values', limit: maxValues }; i = n; continue }
          if (depth === maxDepth) { refused = { ok: false, reason: 'depth', limit: maxDepth }; i = n; continue }
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
            if (++values > maxValues) { refused = { ok: false, reason: 'values', limit: maxValues }; i = n; continue }
          }
          prev = 0x30
      }
    }
    this.depth = depth
    this.values = values
    this.prev = prev
    this.inString = inString
    this.escaped = escaped
    if (refused !== undefined) this.verdict = refused
    return this.verdict
  }
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
