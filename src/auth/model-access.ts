/**
 * Model allow-lists: exact names and `*` wildcards (`gpt-5.2*`, `*-mini*`). Patterns are
 * compiled once per list and cached by list identity, so the hot path builds nothing.
 *
 * Wildcards are matched without regular expressions: a backtracking regex for a pattern
 * with two `*` takes quadratic time or worse on a long name (seconds of event loop for a
 * 156 KB model name). A `*`-only glob needs no backtracking: the literal pieces between
 * stars must appear in order, and taking each at its leftmost place is always right, so
 * one left-to-right pass decides.
 */

/** OpenAI's model ids are short; a longer name is refused before any matching. */
export const MAX_MODEL_NAME_LENGTH = 256

const compiled = new WeakMap<readonly string[], (model: string) => boolean>()

/** A `*` pattern as its literal pieces: `a*b*c` → ['a', 'b', 'c']; `*x*` → ['', 'x', '']. */
export function globMatch (pieces: readonly string[], text: string): boolean {
  const first = pieces[0]!
  if (pieces.length === 1) return text === first
  const last = pieces[pieces.length - 1]!
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false
  let at = first.length
  const end = text.length - last.length
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!
    if (piece === '') continue
    const found = text.indexOf(piece, at)
    if (found === -1 || found + piece.length > end) return false
    at = found + piece.length
  }
  return true
}

function compile (patterns: readonly string[]): (model: string) => boolean {
  const exact = new Set<string>()
  const wild: string[][] = []
  for (const p of patterns) {
    if (p === '*') return () => true
    if (p.includes('*')) wild.push(p.split('*'))
    else exact.add(p)
  }
  return (model) => {
    if (exact.has(model)) return true
    for (let i = 0; i < wild.length; i++) if (globMatch(wild[i]!, model)) return true
    return false
  }
}

/**
 * True when `model` is allowed by `patterns` (null or empty allows everything). Names
 * over MAX_MODEL_NAME_LENGTH are never allowed by a non-empty list.
 */
export function isModelAllowed (patterns: readonly string[] | null, model: string): boolean {
  if (patterns === null || patterns.length === 0) return true
  if (model.length > MAX_MODEL_NAME_LENGTH) return false
  let test = compiled.get(patterns)
  if (test === undefined) {
    test = compile(patterns)
    compiled.set(patterns, test)
  }
  return test(model)
}
