import { counterCell, type CounterCell } from '../metrics/cells.js'
import type { Metrics } from '../metrics/metrics.js'
import { nanosToUsd } from './money.js'
import type { UsageRecord } from './record.js'

/** Distinct unpriced model names shown as labels before the rest become `other`. */
const MAX_UNPRICED_LABELS = 100

/**
 * Usage records → the Prometheus counters. Each label set is a cell resolved once
 * (src/metrics/cells.ts: no label hashing per increment).
 * Same meaning as the ledger: a cache hit adds saved money, not tokens or cost.
 */
export function usageMeters (metrics: Metrics) {
  const children = new Map<string, CounterCell>()
  const child = (id: string, make: () => CounterCell): CounterCell => {
    let c = children.get(id)
    if (c === undefined) children.set(id, c = make())
    return c
  }
  const unpricedNames = new Set<string>()
  // Unpriced names come from clients: keep the label set bounded.
  const unpricedLabel = (model: string): string => {
    if (unpricedNames.has(model)) return model
    if (unpricedNames.size >= MAX_UNPRICED_LABELS) return 'other'
    unpricedNames.add(model)
    return model
  }

  const tokens = (model: string, key: string, type: string, n: number): void => {
    if (n > 0) child(`t\0${model}\0${key}\0${type}`, () => counterCell(metrics.tokens, { model, key, type })).inc(n)
  }

  return {
    observe (r: UsageRecord, estimateReason: string | undefined): void {
      const { label, keyName: key } = r
      if (r.cacheHit) {
        if (r.savedNanos > 0) child(`s\0${label}\0${key}`, () => counterCell(metrics.cacheSaved, { model: label, key })).inc(nanosToUsd(r.savedNanos))
      } else {
        tokens(label, key, 'input', r.inputTokens)
        tokens(label, key, 'cached_input', r.cachedInputTokens)
        tokens(label, key, 'output', r.outputTokens)
        tokens(label, key, 'reasoning', r.reasoningTokens)
        if (r.costNanos > 0) child(`c\0${label}\0${key}`, () => counterCell(metrics.cost, { model: label, key })).inc(nanosToUsd(r.costNanos))
        const team = r.teamName
        if (r.costNanos > 0 && team) child(`tc\0${team}\0${label}`, () => counterCell(metrics.teamCost, { team, model: label })).inc(nanosToUsd(r.costNanos))
      }
      if (!r.priced && (r.inputTokens > 0 || r.outputTokens > 0)) {
        const m = unpricedLabel(r.model)
        child(`u\0${m}`, () => counterCell(metrics.unpriced, { model: m })).inc()
      }
      if (estimateReason !== undefined) child(`e\0${label}\0${estimateReason}`, () => counterCell(metrics.estimated, { model: label, reason: estimateReason })).inc()
    }
  }
}

export type UsageMeters = ReturnType<typeof usageMeters>
