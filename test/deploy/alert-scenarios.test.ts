import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { metricNames } from './promql.js'

/**
 * The alert rules evaluated on synthetic series with `promtool test rules`: each scenario
 * says which alerts fire (and which do not) after so many minutes. Without promtool the
 * scenarios are still checked for consistency with the rules (names, metrics).
 */

interface Rule { alert: string, expr: string, for?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
const alerts = parseYaml(readFileSync('deploy/prometheus/alerts.yml', 'utf8')) as { groups: Array<{ name: string, rules: Rule[] }> }
const rules = new Map(alerts.groups.flatMap((g) => g.rules).map((r) => [r.alert, r]))

const CHAT = 'route="/v1/chat/completions"'
const job = 'job="comet-gateway"'

interface Scenario {
  name: string
  series: Array<[string, string]>
  at: string
  /** alertname → the label sets expected to fire (besides alertname and severity); [] = must not fire. */
  expect: Record<string, Array<Record<string, string>>>
}

const scenarios: Scenario[] = [
  {
    name: 'budgets at 85% and 100%',
    series: [
      [`gateway_budget_usd{${job},instance="a",key="alice",period="month"}`, '10x20'],
      [`gateway_budget_spent_usd{${job},instance="a",key="alice",period="month"}`, '8.5x20'],
      [`gateway_budget_usd{${job},instance="a",key="bob",period="day"}`, '5x20'],
      [`gateway_budget_spent_usd{${job},instance="a",key="bob",period="day"}`, '5x20'],
      [`gateway_budget_usd{${job},instance="b",key="bob",period="day"}`, '5x20'],
      [`gateway_budget_spent_usd{${job},instance="b",key="bob",period="day"}`, '4.9x20'],
      [`gateway_budget_usd{${job},instance="a",key="carol",period="month"}`, '10x20'],
      [`gateway_budget_spent_usd{${job},instance="a",key="carol",period="month"}`, '2x20']
    ],
    at: '10m',
    expect: {
      GatewayKeyBudget80Percent: [{ key: 'alice', period: 'month' }, { key: 'bob', period: 'day' }],
      GatewayKeyBudgetExhausted: [{ key: 'bob', period: 'day' }]
    }
  },
  {
    name: '10% of answers are 502 (upstream unreachable)',
    series: [
      [`gateway_requests_total{${job},${CHAT},model="gpt-5.2-chat-latest",key="alice",status="200"}`, '0+90x40'],
      [`gateway_requests_total{${job},${CHAT},model="gpt-5.2-chat-latest",key="alice",status="502"}`, '0+10x40'],
      [`gateway_upstream_errors_total{${job},${CHAT},kind="error"}`, '0+10x40'],
      [`gateway_tokens_total{${job},model="gpt-5.2-chat-latest",key="alice",type="input"}`, '0+90000x40']
    ],
    at: '20m',
    expect: {
      GatewayUpstream5xxRatioHigh: [{}],
      GatewayUpstreamErrors: [{ route: '/v1/chat/completions', kind: 'error' }],
      Gateway429RatioHigh: [],
      GatewayNoUsageReported: []
    }
  },
  {
    name: '20% of answers are 429, all from gateway limits',
    series: [
      [`gateway_requests_total{${job},${CHAT},model="gpt-5.2-chat-latest",key="alice",status="200"}`, '0+80x40'],
      [`gateway_requests_total{${job},${CHAT},model="other",key="alice",status="429"}`, '0+20x40'],
      [`gateway_rate_limited_total{${job},key="alice",limit="rpm"}`, '0+20x40'],
      [`gateway_tokens_total{${job},model="gpt-5.2-chat-latest",key="alice",type="input"}`, '0+80000x40']
    ],
    at: '20m',
    expect: { Gateway429RatioHigh: [{}], GatewayUpstreamRateLimiting: [], GatewayUpstream5xxRatioHigh: [] }
  },
  {
    name: 'upstream 429s that no gateway limit produced',
    series: [
      [`gateway_requests_total{${job},${CHAT},model="gpt-5.2-chat-latest",key="alice",status="200"}`, '0+80x40'],
      [`gateway_requests_total{${job},${CHAT},model="gpt-5.2-chat-latest",key="alice",status="429"}`, '0+20x40'],
      [`gateway_tokens_total{${job},model="gpt-5.2-chat-latest",key="alice",type="input"}`, '0+80000x40']
    ],
    at: '20m',
    expect: { Gateway429RatioHigh: [{}], GatewayUpstreamRateLimiting: [{}] }
  },
  {
    name: 'requests succeed but no token is metered',
    series: [
      [`gateway_requests_total{${job},${CHAT},model="gpt-5.2-chat-latest",key="alice",status="200"}`, '0+60x60'],
      [`gateway_tokens_total{${job},model="gpt-5.2-chat-latest",key="alice",type="input"}`, '5000x60']
    ],
    at: '40m',
    expect: { GatewayNoUsageReported: [{}] }
  },
  {
    name: 'only cache hits succeed: no tokens, and that is fine',
    series: [
      [`gateway_requests_total{${job},${CHAT},model="gpt-5.2-chat-latest",key="alice",status="200"}`, '0+60x60'],
      [`gateway_cache_requests_total{${job},result="hit"}`, '0+60x60']
    ],
    at: '40m',
    expect: { GatewayNoUsageReported: [] }
  },
  {
    name: 'a model without a price, and streams without usage',
    series: [
      [`gateway_requests_total{${job},${CHAT},model="other",key="alice",status="200"}`, '0+10x40'],
      [`gateway_unpriced_requests_total{${job},model="mystery-model"}`, '0+1x40'],
      [`gateway_estimated_usage_total{${job},model="other",reason="client_abort"}`, '0+2x40'],
      [`gateway_tokens_total{${job},model="other",key="alice",type="input"}`, '0+1000x40']
    ],
    at: '35m',
    expect: { GatewayUnpricedModel: [{ model: 'mystery-model' }], GatewayEstimatedUsageRising: [{}], GatewayNoUsageReported: [] }
  },
  {
    name: 'Redis unreachable: spend buffered',
    series: [
      [`gateway_ledger_buffered_records{${job},instance="a"}`, '0 0 3 5 8 13 21 34 55 89 144'],
      [`gateway_limiter_errors_total{${job},instance="a"}`, '0+0x10'],
      [`up{${job},instance="a"}`, '1x10'],
      [`up{${job},instance="b"}`, '0x10']
    ],
    at: '10m',
    expect: { GatewayStoreDegraded: [{}], GatewayDown: [{ instance: 'b', job: 'comet-gateway' }] }
  }
]

function hasPromtool (): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' })
    return true
  } catch { return false }
}

describe('alert rules on synthetic series', () => {
  it('every scenario names real alerts and feeds the metrics they read', () => {
    for (const s of scenarios) {
      const fed = new Set(s.series.map(([sel]) => sel.slice(0, sel.indexOf('{'))))
      for (const alert of Object.keys(s.expect)) {
        const rule = rules.get(alert)
        expect(rule, `${s.name}: ${alert}`).toBeDefined()
        const read = metricNames(rule!.expr)
        expect([...read].some((m) => fed.has(m)), `${s.name}: ${alert} reads ${[...read].join(', ')}`).toBe(true)
      }
    }
    // Every alert is exercised by at least one scenario where it fires.
    const firing = new Set(scenarios.flatMap((s) => Object.entries(s.expect).filter(([, v]) => v.length > 0).map(([k]) => k)))
    expect([...rules.keys()].filter((a) => !firing.has(a))).toEqual([])
  })

  it(hasPromtool() ? 'fire exactly as expected (promtool test rules)' : 'are consistent (promtool not installed)', () => {
    if (!hasPromtool()) {
      for (const r of rules.values()) expect(r.labels?.severity, r.alert).toMatch(/^(warning|critical)$/)
      return
    }
    const dir = mkdtempSync(join(tmpdir(), 'comet-alert-tests-'))
    // Annotations are prose for humans; these tests are about when alerts fire.
    const bare = { groups: alerts.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }) => r) })) }
    writeFileSync(join(dir, 'rules.yml'), JSON.stringify(bare))
    const tests = {
      rule_files: [join(dir, 'rules.yml')],
      evaluation_interval: '1m',
      tests: scenarios.map((s) => ({
        name: s.name,
        interval: '1m',
        input_series: s.series.map(([series, values]) => ({ series, values })),
        alert_rule_test: Object.entries(s.expect).map(([alertname, fired]) => ({
          eval_time: s.at,
          alertname,
          exp_alerts: fired.map((labels) => ({ exp_labels: { ...labels, severity: rules.get(alertname)!.labels!.severity! } }))
        }))
      }))
    }
    writeFileSync(join(dir, 'tests.yml'), JSON.stringify(tests))
    let out: string
    try {
      out = execFileSync('promtool', ['test', 'rules', join(dir, 'tests.yml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      const e = err as { stdout?: string, stderr?: string }
      throw new Error(`promtool test rules failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`)
    }
    expect(out).toContain('SUCCESS')
  })
})
