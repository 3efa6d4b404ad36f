import { describe, expect, it } from 'vitest'
import { Registry } from 'prom-client'
import { createMetrics } from '../../src/metrics/metrics.js'
import { counterCell, gaugeCell, histogramCell } from '../../src/metrics/cells.js'

describe('metric cells', () => {
  it('export exactly what prom-client children would', async () => {
    const a = createMetrics(new Registry(), { defaultMetrics: false })
    const b = createMetrics(new Registry(), { defaultMetrics: false })
    const labels = { route: '/v1/chat/completions', model: 'm', key: 'k', status: '200' }
    const cell = counterCell(a.requests, labels)
    const hist = histogramCell(a.duration, { route: '/r', model: 'm' })
    for (const v of [0.001, 0.02, 0.3, 4, 900, 0.005]) {
      cell.inc()
      hist.observe(v)
      b.requests.labels('/v1/chat/completions', 'm', 'k', '200').inc()
      b.duration.labels('/r', 'm').observe(v)
    }
    cell.inc(3)
    b.requests.labels('/v1/chat/completions', 'm', 'k', '200').inc(3)
    expect(await a.registry.metrics()).toBe(await b.registry.metrics())
  })

  it('gauge cells export what gauge.set would, also after another writer or a reset', async () => {
    const a = createMetrics(new Registry(), { defaultMetrics: false })
    const b = createMetrics(new Registry(), { defaultMetrics: false })
    const cell = gaugeCell(a.budgetRemaining, { scope: 'key', name: 'k' })
    cell.set(12.5)
    b.budgetRemaining.set({ scope: 'key', name: 'k' }, 12.5)
    expect(await a.registry.metrics()).toBe(await b.registry.metrics())
    // Another writer replaces the entry (key-info.ts sets the same labels): the cell still lands there.
    a.budgetRemaining.set({ scope: 'key', name: 'k' }, 3)
    cell.set(7)
    b.budgetRemaining.set({ scope: 'key', name: 'k' }, 7)
    expect(await a.registry.metrics()).toBe(await b.registry.metrics())
    a.budgetRemaining.reset()
    cell.set(1)
    b.budgetRemaining.reset()
    b.budgetRemaining.set({ scope: 'key', name: 'k' }, 1)
    expect(await a.registry.metrics()).toBe(await b.registry.metrics())
    expect(await a.registry.metrics()).toContain('gateway_budget_remaining_usd{scope="key",name="k"} 1')
  })
})
