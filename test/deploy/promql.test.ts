import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { dashboardExprs, exportedSeriesNames, metricNames, withoutGrafanaVariables } from './promql.js'

const dashboard = JSON.parse(readFileSync('deploy/grafana/dashboards/llm-cost.json', 'utf8')) as { title: string, uid: string, panels: unknown[], templating: { list: Array<{ name: string, type: string, query?: unknown, definition?: string }> } }
const alerts = parseYaml(readFileSync('deploy/prometheus/alerts.yml', 'utf8')) as { groups: Array<{ name: string, rules: Array<{ alert?: string, record?: string, expr: string, labels?: Record<string, string>, annotations?: Record<string, string> }> }> }
const rules = alerts.groups.flatMap((g) => g.rules)
const panels = dashboardExprs(dashboard)
/** Series Prometheus itself makes for every scrape target. */
const PROMETHEUS_SERIES = new Set(['up'])

function hasPromtool (): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' })
    return true
  } catch { return false }
}

describe('the PromQL reader used by these tests', () => {
  it('finds metric names and skips functions, grouping labels, matchers, durations and keywords', () => {
    expect([...metricNames('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{model=~"x|y", k="by (z)"}[5m])))')]).toEqual(['a_bucket'])
    expect([...metricNames('sum(rate(a_total[5m] offset 1h)) / on () group_left (x) (b or vector(0)) > bool 1e3')].sort()).toEqual(['a_total', 'b'])
    expect([...metricNames('max by (key, period) (spent) / max without (instance) (budget > 0) >= 0.8')].sort()).toEqual(['budget', 'spent'])
    expect([...metricNames('up{job="comet-gateway"} == 0')]).toEqual(['up'])
  })
})

describe('the Grafana "LLM cost" dashboard', () => {
  it('is a provisionable dashboard with a datasource variable and key/model filters', () => {
    expect(dashboard.title).toBe('LLM cost')
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/)
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'key', 'model'])
    expect(panels.length).toBeGreaterThan(15)
    // Every query panel reads from the datasource variable, so an imported copy works too.
    const raw = JSON.stringify(dashboard.panels)
    expect(raw).not.toMatch(/"uid":\s*"(?!\$\{datasource\})/)
  })

  it('lays its panels out on the 24-column grid without overlaps', () => {
    const boxes = (dashboard.panels as Array<{ title: string, gridPos: { x: number, y: number, w: number, h: number } }>).map((p) => ({ title: p.title, ...p.gridPos }))
    for (const b of boxes) expect(b.x + b.w, b.title).toBeLessThanOrEqual(24)
    const overlaps = boxes.flatMap((a, i) => boxes.slice(i + 1)
      .filter((b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h)
      .map((b) => `${a.title} / ${b.title}`))
    expect(overlaps).toEqual([])
    expect(new Set((dashboard.panels as Array<{ id: number }>).map((p) => p.id)).size).toBe(dashboard.panels.length)
    // Core Grafana panel types only: the dashboard needs no plugin.
    for (const p of dashboard.panels as Array<{ type: string, title: string, targets?: Array<{ refId: string }> }>) {
      expect(['row', 'stat', 'timeseries', 'bargauge', 'gauge', 'table', 'piechart'], p.title).toContain(p.type)
      const refIds = (p.targets ?? []).map((t) => t.refId)
      expect(new Set(refIds).size, p.title).toBe(refIds.length)
    }
  })

  it('queries only metrics the gateway exports', async () => {
    const { names } = await exportedSeriesNames()
    const unknown: string[] = []
    for (const { panel, expr } of panels) {
      const used = metricNames(withoutGrafanaVariables(expr))
      expect(used.size, `${panel}: ${expr}`).toBeGreaterThan(0)
      for (const name of used) if (!names.has(name)) unknown.push(`${panel}: ${name}`)
    }
    for (const v of dashboard.templating.list) {
      for (const name of metricNames(String(v.definition ?? '').replace(/^label_values\((\w+),.*$/, '$1'))) {
        if (!names.has(name)) unknown.push(`variable ${v.name}: ${name}`)
      }
    }
    expect(unknown).toEqual([])
  })

  it('shows spend by key, model and day, tokens, cache savings, limits, latency and TTFB p50/p99, streams, errors and budgets', async () => {
    const { histograms } = await exportedSeriesNames()
    const all = panels.map((p) => p.expr).join('\n')
    const used = metricNames(withoutGrafanaVariables(all))
    for (const m of ['gateway_cost_usd_total', 'gateway_tokens_total', 'gateway_cache_requests_total', 'gateway_cache_saved_usd_total', 'gateway_rate_limited_total', 'gateway_active_streams', 'gateway_upstream_errors_total', 'gateway_budget_spent_usd', 'gateway_budget_usd', 'gateway_requests_total']) {
      expect(used, m).toContain(m)
    }
    expect(all).toMatch(/sum by \(key\) \(increase\(gateway_cost_usd_total/)
    expect(all).toMatch(/sum by \(model\) \(increase\(gateway_cost_usd_total/)
    expect(all).toMatch(/sum by \(type\) \(rate\(gateway_tokens_total/)
    for (const h of histograms) {
      if (!h.startsWith('gateway_')) continue
      for (const q of ['0.5', '0.99']) expect(all, `${h} p${q}`).toContain(`histogram_quantile(${q}, sum by (le, route) (rate(${h}_bucket`)
    }
    // "per day": the daily spend panels step by one day.
    const daily = (dashboard.panels as Array<{ title: string, interval?: string }>).filter((p) => /per day/.test(p.title))
    expect(daily.length).toBeGreaterThanOrEqual(1)
    for (const p of daily) expect(p.interval).toBe('1d')
  })
})

describe('the Prometheus alert rules', () => {
  it('alert on budget 80% and 100%, 5xx and 429 ratios, and usage not being metered', () => {
    const names = rules.map((r) => r.alert)
    expect(names).toEqual(expect.arrayContaining(['GatewayKeyBudget80Percent', 'GatewayKeyBudgetExhausted', 'GatewayUpstream5xxRatioHigh', 'Gateway429RatioHigh', 'GatewayNoUsageReported', 'GatewayUnpricedModel', 'GatewayEstimatedUsageRising']))
    const byName = new Map(rules.map((r) => [r.alert, r]))
    expect(byName.get('GatewayKeyBudget80Percent')!.expr).toMatch(/gateway_budget_spent_usd[\s\S]*gateway_budget_usd[\s\S]*>= 0\.8/)
    expect(byName.get('GatewayKeyBudgetExhausted')!.expr).toMatch(/>= 1\s*$/)
    expect(byName.get('GatewayUpstream5xxRatioHigh')!.expr).toContain('status=~"5.."')
    expect(byName.get('Gateway429RatioHigh')!.expr).toContain('status="429"')
    expect(byName.get('GatewayNoUsageReported')!.expr).toContain('gateway_tokens_total')
    for (const r of rules) {
      expect(r.labels?.severity, r.alert).toMatch(/^(warning|critical)$/)
      expect(r.annotations?.summary, r.alert).toBeTruthy()
    }
  })

  it('read only metrics the gateway exports (and Prometheus\' own `up`)', async () => {
    const { names } = await exportedSeriesNames()
    const unknown = rules.flatMap((r) => [...metricNames(r.expr)].filter((n) => !names.has(n) && !PROMETHEUS_SERIES.has(n)).map((n) => `${r.alert}: ${n}`))
    expect(unknown).toEqual([])
  })

  it('pass promtool (rules, the dashboard queries as recording rules, prometheus.yml) or, without it, parse', () => {
    const dir = mkdtempSync(join(tmpdir(), 'comet-promtool-'))
    // The dashboard's queries, as recording rules, so promtool parses each one.
    const recording = { groups: [{ name: 'dashboard', rules: panels.map((p, n) => ({ record: `dashboard:query_${n}`, expr: withoutGrafanaVariables(p.expr) })) }] }
    writeFileSync(join(dir, 'dashboard-rules.yml'), JSON.stringify(recording))
    // The token file docker-compose writes at start, here a temp one (promtool checks it exists).
    writeFileSync(join(dir, 'metrics-token'), 'token')
    const config = readFileSync('deploy/prometheus/prometheus.yml', 'utf8').replace('/etc/prometheus/alerts.yml', join(process.cwd(), 'deploy/prometheus/alerts.yml')).replace('/prometheus/metrics-token', join(dir, 'metrics-token'))
    writeFileSync(join(dir, 'prometheus.yml'), config)
    if (hasPromtool()) {
      const out = execFileSync('promtool', ['check', 'rules', 'deploy/prometheus/alerts.yml', join(dir, 'dashboard-rules.yml')], { encoding: 'utf8' })
      expect(out).toContain(`SUCCESS: ${rules.length} rules found`)
      expect(out).toContain(`SUCCESS: ${panels.length} rules found`)
      execFileSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' })
    } else {
      // No promtool: at least every expression has balanced brackets and quotes (the reader throws otherwise).
      for (const e of [...rules.map((r) => r.expr), ...panels.map((p) => withoutGrafanaVariables(p.expr))]) expect(() => metricNames(e)).not.toThrow()
      const prom = parseYaml(config) as { rule_files: string[] }
      expect(prom.rule_files).toHaveLength(1)
    }
  })
})
