/**
 * The top-level keys of a JSON object text, as the upstream may read them. Parsers
 * disagree on two things the gateway must not: which of two equal keys wins (JSON.parse
 * keeps the last, some upstreams the first), and whether `Model` or `ſtream` is `model`
 * or `stream` (Go's encoding/json matches field names case-insensitively, with Unicode
 * folding). So a body whose top-level keys collide under folding is refused, and so is
 * a key that folds to a plain lower-case name without being spelled that way.
 */

export type KeyProblem =
  | { readonly kind: 'duplicate', readonly key: string }
  | { readonly kind: 'case', readonly key: string }

/** Simple case folding as Go's encoding/json applies it (`ſ` → `s`, `K` (Kelvin) → `k`). */
function fold (key: string): string {
  return key.toUpperCase().toLowerCase()
}

const PLAIN_NAME = /^[a-z0-9_]+$/

/** Index of the quote that closes the string opening at `open`. */
function stringEnd (text: string, open: number): number {
  let j = text.indexOf('"', open + 1)
  for (;;) {
    let k = j - 1
    while (text.charCodeAt(k) === 0x5c) k--
    // An even run of backslashes before the quote escapes nothing.
    if ((j - 1 - k) % 2 === 0) return j
    j = text.indexOf('"', j + 1)
  }
}

/**
 * Scans the top level of `text`, which must be a JSON object that `JSON.parse` accepted
 * (so the scan can trust its structure). Nested values are skipped by counting brackets
 * outside strings; strings are skipped with `indexOf`, so a large base64 field costs one
 * native search. Returns the first problem, or undefined.
 * @example topLevelKeyProblem('{"model":"a","model":"b"}') // { kind: 'duplicate', key: 'model' }
 */
export function topLevelKeyProblem (text: string): KeyProblem | undefined {
  let i = text.indexOf('{') + 1
  const n = text.length
  const seen = new Set<string>()
  let depth = 0
  let expectKey = true
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      const end = stringEnd(text, i)
      if (depth === 0 && expectKey) {
        const raw = text.slice(i + 1, end)
        const key = raw.includes('\\') ? JSON.parse(text.slice(i, end + 1)) as string : raw
        // Lower-case names (all of OpenAI's) are their own folding: skip the two case maps.
        const folded = PLAIN_NAME.test(key) ? key : fold(key)
        if (seen.has(folded)) return { kind: 'duplicate', key }
        seen.add(folded)
        if (folded !== key && PLAIN_NAME.test(folded)) return { kind: 'case', key }
        expectKey = false
      }
      i = end + 1
      continue
    }
    if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return undefined
      depth--
    } else if (c === 0x2c && depth === 0) expectKey = true
    i++
  }
  return undefined
}
