import { createMetrics } from '../../src/metrics/metrics.js'
import { counterCell, gaugeCell, histogramCell } from '../../src/metrics/cells.js'
import { group } from './harness.js'

/**
 * The per-request metric updates: a prom-client `labels()` child (hashes the label
 * values on every call) against a cell resolved once (src/metrics/cells.ts).
 */
export function metricCellsBench (timeMs?: number): string {
  const metrics = createMetrics(undefined, { defaultMetrics: false })
  const counterChild = metrics.requests.labels('/v1/chat/completions', 'gpt-5.2-chat-latest', 'bench', '200')
  const counter = counterCell(metrics.requests, { route: '/v1/chat/completions', model: 'gpt-5.2-chat-latest', key: 'bench', status: '201' })
  const histChild = metrics.duration.labels('/v1/chat/completions', 'gpt-5.2-chat-latest')
  const hist = histogramCell(metrics.ttfb, { route: '/v1/chat/completions', model: 'gpt-5.2-chat-latest' })
  const gauge = gaugeCell(metrics.budgetRemaining, { scope: 'key', name: 'bench' })
  let v = 0
  return [
    group('Counter increment (prom-client)', [
      { name: 'cached labels() child .inc()', fn: () => { counterChild.inc(); return 1 } },
      { name: 'cell .inc() (src/metrics/cells.ts)', fn: () => { counter.inc(); return 1 } }
    ], timeMs),
    group('Histogram observation (prom-client)', [
      { name: 'cached labels() child .observe()', fn: () => { histChild.observe((v = (v + 0.0137) % 3)); return v } },
      { name: 'cell .observe() (src/metrics/cells.ts)', fn: () => { hist.observe((v = (v + 0.0137) % 3)); return v } }
    ], timeMs),
    // The limits feature sets three budget gauges twice per request of a key with a budget.
    group('Gauge set (prom-client)', [
      { name: 'before: gauge.set({ scope, name }, v) (label hash per call)', fn: () => { metrics.budgetRemaining.set({ scope: 'team', name: 'bench' }, (v = (v + 0.0137) % 3)); return v } },
      { name: 'cell .set() (src/metrics/cells.ts)', fn: () => { gauge.set((v = (v + 0.0137) % 3)); return v } }
    ], timeMs)
  ].join('\n\n')
}
