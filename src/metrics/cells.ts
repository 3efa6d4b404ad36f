import type { Counter, Gauge, Histogram } from 'prom-client'

/**
 * Metric cells: one label set of a prom-client counter or histogram, resolved once and
 * then updated without label hashing. prom-client's `labels()` children hash the label
 * values again on every `inc()` / `observe()` (and a histogram observation allocates a
 * closure and an object): bench/micro/metric-cells.ts measures the difference.
 *
 * A cell adds to the very entry prom-client exports (found once by its labels object);
 * if a prom-client version keeps its values elsewhere, the cell falls back to the
 * public API, which is slower but the same numbers.
 */
export interface CounterCell { inc (n?: number): void }
export interface HistogramCell { observe (v: number): void }
export interface GaugeCell { set (v: number): void }

interface CounterEntry { value: number, labels: object }
interface HistogramEntry { labels: object, bucketValues: Record<string, number>, sum: number, count: number }
type Internals<E> = { hashMap?: Record<string, E>, upperBounds?: number[] }

export function counterCell<T extends string> (counter: Counter<T>, labels: Record<T, string>): CounterCell {
  counter.inc(labels, 0)
  const entry = findEntry((counter as unknown as Internals<CounterEntry>).hashMap, labels)
  if (entry === undefined || typeof entry.value !== 'number') return { inc: (n = 1) => { counter.inc(labels, n) } }
  return { inc: (n = 1) => { entry.value += n } }
}

export function histogramCell<T extends string> (histogram: Histogram<T>, labels: Record<T, string>): HistogramCell {
  histogram.zero(labels)
  const internals = histogram as unknown as Internals<HistogramEntry>
  const entry = findEntry(internals.hashMap, labels)
  const bounds = internals.upperBounds
  if (entry === undefined || bounds === undefined || typeof entry.count !== 'number') return { observe: (v) => { histogram.observe(labels, v) } }
  return {
    observe: (v) => {
      // As prom-client does: the first bucket whose bound holds v (Infinity is implied by count).
      for (let i = 0; i < bounds.length; i++) {
        if (v <= bounds[i]!) {
          entry.bucketValues[bounds[i]!]! += 1
          break
        }
      }
      entry.sum += v
      entry.count += 1
    }
  }
}

/**
 * A gauge's `set()` replaces its entry object, so the cell keeps the entry's key (the
 * label hash, found once) rather than the entry: whoever else sets the same labels, the
 * cell writes where prom-client reads.
 */
export function gaugeCell<T extends string> (gauge: Gauge<T>, labels: Record<T, string>): GaugeCell {
  gauge.set(labels, 0)
  const internals = gauge as unknown as Internals<CounterEntry>
  const map = internals.hashMap
  let key: string | undefined
  if (map !== undefined) for (const k in map) if (map[k]!.labels === labels) key = k
  if (map === undefined || key === undefined) return { set: (v) => { gauge.set(labels, v) } }
  const at = key
  return {
    set: (v) => {
      // The map is read each time: `reset()` replaces it.
      const e = internals.hashMap?.[at]
      if (e !== undefined) e.value = v
      else gauge.set(labels, v)
    }
  }
}

function findEntry<E extends { labels: object }> (map: Record<string, E> | undefined, labels: object): E | undefined {
  if (map === undefined) return undefined
  for (const k in map) if (map[k]!.labels === labels) return map[k]
  return undefined
}
