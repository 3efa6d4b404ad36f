import { createMetrics } from '../../src/metrics/metrics.js'

/**
 * Just enough PromQL lexing to list the metric names an expression reads: strings, label
 * matchers `{…}`, range/subquery brackets `[…]`, numbers and durations are skipped; the
 * label lists of `by/without/on/ignoring/group_left/group_right (…)` are skipped; an
 * identifier followed by `(` is a function; keywords are keywords. What is left is a metric.
 */
const KEYWORDS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
  'and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan'
])
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'])

export function metricNames (expr: string): Set<string> {
  const names = new Set<string>()
  let i = 0
  const skipSpace = (): void => { while (i < expr.length && /\s/.test(expr[i]!)) i++ }
  const skipBalanced = (open: string, close: string): void => {
    let depth = 0
    for (; i < expr.length; i++) {
      const c = expr[i]!
      if (c === '"' || c === '\'' || c === '`') { skipString(c); i--; continue }
      if (c === open) depth++
      else if (c === close && --depth === 0) { i++; return }
    }
    throw new Error(`unbalanced ${open} in ${expr}`)
  }
  const skipString = (q: string): void => {
    i++
    while (i < expr.length && expr[i] !== q) i += expr[i] === '\\' ? 2 : 1
    i++
  }
  // Comments run to the end of the line; numbers and durations (5m, 1e3, 0x1f) are one token.
  const skipComment = (): void => { while (i < expr.length && expr[i] !== '\n') i++ }
  const skipNumber = (): void => { while (i < expr.length && /[0-9a-zA-Z_.]/.test(expr[i]!)) i++ }
  while (i < expr.length) {
    const c = expr[i]!
    if (c === '"' || c === '\'' || c === '`') skipString(c)
    else if (c === '{') skipBalanced('{', '}')
    else if (c === '[') skipBalanced('[', ']')
    else if (c === '#') skipComment()
    else if (/[0-9.]/.test(c)) skipNumber()
    else if (/[a-zA-Z_:]/.test(c)) {
      const start = i
      while (i < expr.length && /[a-zA-Z0-9_:]/.test(expr[i]!)) i++
      const word = expr.slice(start, i)
      skipSpace()
      if (GROUPING.has(word)) {
        if (expr[i] === '(') skipBalanced('(', ')')
      } else if (!KEYWORDS.has(word) && expr[i] !== '(') {
        names.add(word)
      }
    } else i++
  }
  return names
}

/** Grafana's variables, replaced by values that make the expression plain PromQL. */
export function withoutGrafanaVariables (expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range/g, '5m')
    .replace(/\$\{?(\w+)(:\w+)?\}?/g, '.*')
}

/** Every PromQL expression of a dashboard's panels (rows and nested panels included). */
export function dashboardExprs (dashboard: { panels?: unknown[] }): Array<{ panel: string, expr: string }> {
  const out: Array<{ panel: string, expr: string }> = []
  const walk = (panels: unknown[] | undefined): void => {
    for (const p of panels ?? []) {
      const panel = p as { title?: string, panels?: unknown[], targets?: Array<{ expr?: string }> }
      for (const t of panel.targets ?? []) if (typeof t.expr === 'string') out.push({ panel: panel.title ?? '?', expr: t.expr })
      walk(panel.panels)
    }
  }
  walk(dashboard.panels)
  return out
}

/**
 * The series names the gateway's registry exports: counters and gauges by name,
 * histograms also as `_bucket`, `_sum` and `_count`.
 */
export async function exportedSeriesNames (): Promise<{ names: Set<string>, histograms: Set<string> }> {
  const { registry } = createMetrics()
  const names = new Set<string>()
  const histograms = new Set<string>()
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name)
    if (String(m.type) === 'histogram') {
      histograms.add(m.name)
      for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s)
    }
  }
  return { names, histograms }
}
