import { costNanos } from './money.js'
import { DEFAULT_PRICES } from './default-prices.js'
import { priceEntrySchema, type PriceEntry } from './price-entry.js'
import type { TokenUsage } from './usage.js'

/** The built-in table (see default-prices.ts); the config's `pricing` and `PRICING_FILE` replace or add. */
export const DEFAULT_PRICING: Readonly<Record<string, PriceEntry>> = DEFAULT_PRICES

/**
 * A price in nano-dollars per 1M tokens (exact integers), with the model's batch prices
 * and output cap when its entry has them.
 */
export type UnitPrice = PriceEntry

/** An entry as the config schema outputs it, or as written (USD per 1M tokens, LiteLLM's per token). */
export type PriceInput = PriceEntry | Readonly<Record<string, unknown>>

/** How one client model name is metered. */
export interface PricedModel {
  /** The name usage is recorded under: the client's model after the config's aliases. */
  readonly model: string
  /** The pricing entry that matched (a bounded metrics label), or `other`. */
  readonly label: string
  /** Undefined when no entry matches: tokens are metered, cost is unknown. */
  readonly price: UnitPrice | undefined
}

export interface PriceTable {
  resolve (model: string | undefined): PricedModel
}

interface Pattern<T> { readonly re: RegExp, readonly specificity: number, readonly name: string, readonly value: T }

/** `*` matches any run of characters; everything else is literal. */
function patternOf<T> (name: string, value: T): Pattern<T> {
  const re = new RegExp('^' + name.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$')
  return { re, specificity: specificity(name), name, value }
}

/** The most literal characters win (`gpt-5.2-chat*` beats `gpt-5*`); then the longer name. */
function specificity (name: string): number {
  return (name.length - (name.split('*').length - 1)) * 1000 + name.length
}

/** Exact name first, then the most specific `*` pattern. */
function lookup<T> (name: string, exact: ReadonlyMap<string, T>, patterns: ReadonlyArray<Pattern<T>>): { name: string, value: T } | undefined {
  const v = exact.get(name)
  if (v !== undefined) return { name, value: v }
  for (const p of patterns) if (p.re.test(name)) return p
  return undefined
}

function split<T> (entries: ReadonlyArray<readonly [string, T]>): { exact: Map<string, T>, patterns: Array<Pattern<T>> } {
  const exact = new Map<string, T>()
  const patterns: Array<Pattern<T>> = []
  for (const [name, value] of entries) {
    if (name.includes('*')) patterns.push(patternOf(name, value))
    else exact.set(name, value)
  }
  patterns.sort((a, b) => b.specificity - a.specificity)
  return { exact, patterns }
}

/** A dated snapshot name (`…-2026-01-01`, `…-20260101`) without its date. */
const DATE_SUFFIX = /-(\d{4}-\d{2}-\d{2}|\d{8})$/

const MEMO_MAX = 2048
const MAX_MODEL_LENGTH = 200

/**
 * The price table: the built-in defaults plus `config.pricing`, with `config.aliases`. Both
 * may use `*` patterns. A model is resolved as: alias (exact, else most specific
 * pattern) → price (exact, else most specific pattern, else the same lookups on the
 * name without a date suffix, so `gpt-5.2-chat-latest-2026-01-01` finds its price).
 * Results are memoised (bounded), so the hot path does one Map lookup.
 * @example createPriceTable({ 'gpt-5*': { input: 1, output: 2 } }, { fast: 'gpt-5-mini' }).resolve('fast')
 */
export function createPriceTable (pricing: Readonly<Record<string, PriceInput>>, aliases: Readonly<Record<string, string>> = {}): PriceTable {
  const prices = split(Object.entries({ ...DEFAULT_PRICING, ...pricing }).map(([name, p]) => [name, toUnitPrice(p)] as const))
  const alias = split(Object.entries(aliases))
  const memo = new Map<string, PricedModel>()

  const priceOf = (model: string): { name: string, value: UnitPrice } | undefined => {
    const exact = prices.exact.get(model)
    if (exact !== undefined) return { name: model, value: exact }
    const pattern = prices.patterns.find((p) => p.re.test(model))
    // A dated snapshot of an exact entry is as specific as that entry's literal name,
    // so `gpt-5.2-chat-latest-2026-01-01` prefers `gpt-5.2-chat-latest` over `gpt-5*`.
    const undated = model.replace(DATE_SUFFIX, '')
    const base = undated !== model ? prices.exact.get(undated) : undefined
    if (base !== undefined && (pattern === undefined || specificity(undated) >= pattern.specificity)) return { name: undated, value: base }
    return pattern
  }

  const compute = (asked: string): PricedModel => {
    const target = lookup(asked, alias.exact, alias.patterns)?.value ?? asked
    const model = target.length > MAX_MODEL_LENGTH ? target.slice(0, MAX_MODEL_LENGTH) : target
    const hit = priceOf(model)
    return { model, label: hit?.name ?? 'other', price: hit?.value }
  }

  return {
    resolve (asked) {
      if (asked === undefined || asked === '') return UNKNOWN
      let r = memo.get(asked)
      if (r === undefined) {
        r = compute(asked)
        // Client-chosen names are unbounded: forget them all rather than grow forever.
        if (memo.size >= MEMO_MAX) memo.clear()
        memo.set(asked, r)
      }
      return r
    }
  }
}

const UNKNOWN: PricedModel = { model: 'unknown', label: 'other', price: undefined }

/** An entry already normalised by the config schema, or one written in either format. */
export function toUnitPrice (p: PriceInput): UnitPrice {
  return typeof p.input === 'bigint' ? p as PriceEntry : priceEntrySchema.parse(p)
}

/**
 * cost = (input − cached) × input price + cached × cached price + output × output price,
 * in integer nano-dollars (rounded once, half up). Reasoning tokens are part of output.
 * @example priceUsage(usage, table.resolve('gpt-5.2-chat-latest').price!) // 6_265_000 for 1000/600/500/200
 */
export function priceUsage (u: TokenUsage, price: UnitPrice): number {
  const cached = Math.min(u.cached, u.input)
  return costNanos([[u.input - cached, price.input], [cached, price.cachedInput], [u.output, price.output]])
}

/**
 * The cost of a batch request's usage: the entry's batch prices where it has them (cached
 * input at the lower of its cached and batch input prices), else its ordinary prices.
 * @example priceBatchUsage(usage, table.resolve('gpt-4o').price!)
 */
export function priceBatchUsage (u: TokenUsage, price: UnitPrice): number {
  const input = price.batchInput ?? price.input
  const cachedInput = price.cachedInput < input ? price.cachedInput : input
  return priceUsage(u, { input, cachedInput, output: price.batchOutput ?? price.output })
}
