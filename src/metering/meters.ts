import { counterCell, type CounterCell } from '../metrics/cells.js'
import type { Metrics } from '../metrics/metrics.js'
import { nanosToUsd } from './money.js'
import type { UsageRecord } from './record.js'

type TokenType = 'input' | 'cached_input' | 'output' | 'reasoning'

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

  // The cells of one model × key, found with one lookup per record (not one per counter);
  // each made on first use, so a series appears only once it has something to count.
  interface Row { tokens: Record<TokenType, CounterCell | undefined>, cost: CounterCell | undefined, saved: CounterCell | undefined }
  const rows = new Map<string, Row>()
  const rowOf = (model: string, key: string): Row => {
    const id = model + '\0' + key
    let row = rows.get(id)
    if (row === undefined) rows.set(id, row = { tokens: { input: undefined, cached_input: undefined, output: undefined, reasoning: undefined }, cost: undefined, saved: undefined })
    return row
  }
  const tokens = (row: Row, model: string, key: string, type: TokenType, n: number): void => {
    if (n > 0) (row.tokens[type] ??= counterCell(metrics.tokens, { model, key, type })).inc(n)
  }

  return {
    observe (r: UsageRecord, estimateReason: string | undefined): void {
      const { label, keyName: key } = r
      const row = rowOf(label, key)
      if (r.cacheHit) {
        if (r.savedNanos > 0) (row.saved ??= counterCell(metrics.cacheSaved, { model: label, key })).inc(nanosToUsd(r.savedNanos))
      } else {
        tokens(row, label, key, 'input', r.inputTokens)
        tokens(row, label, key, 'cached_input', r.cachedInputTokens)
        tokens(row, label, key, 'output', r.outputTokens)
        tokens(row, label, key, 'reasoning', r.reasoningTokens)
        if (r.costNanos > 0) (row.cost ??= counterCell(metrics.cost, { model: label, key })).inc(nanosToUsd(r.costNanos))
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
