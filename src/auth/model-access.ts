/**
 * Model allow-lists: exact names and `*` wildcards (`gpt-5.2*`, `*-mini`). Patterns are
 * compiled once per list and cached by list identity, so the hot path does no regex building.
 */
const compiled = new WeakMap<readonly string[], (model: string) => boolean>()

function compile (patterns: readonly string[]): (model: string) => boolean {
  const exact = new Set<string>()
  const wild: RegExp[] = []
  for (const p of patterns) {
    if (p === '*') return () => true
    if (p.includes('*')) {
      wild.push(new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$'))
    } else {
      exact.add(p)
    }
  }
  return (model) => exact.has(model) || wild.some((re) => re.test(model))
}

/** True when `model` is allowed by `patterns` (null or empty allows everything). */
export function isModelAllowed (patterns: readonly string[] | null, model: string): boolean {
  if (patterns === null || patterns.length === 0) return true
  let test = compiled.get(patterns)
  if (test === undefined) {
    test = compile(patterns)
    compiled.set(patterns, test)
  }
  return test(model)
}
