import { isModelAllowed } from '../auth/model-access.js'
import type { UpstreamHealth } from './health.js'

/** What the choice needs to know of an upstream. */
export interface Candidate {
  readonly weight: number
  /** Model names and `*` patterns; null serves every model. */
  readonly models: readonly string[] | null
  readonly health: UpstreamHealth
}

export interface ChoiceInput<T extends Candidate> {
  /** The request's model; a request without one (GET /v1/models, files, …) goes to any upstream. */
  readonly model: string | undefined
  /** Upstreams already attempted for this request, oldest first. */
  readonly tried: readonly T[]
  /** Upstreams not to use for this request (they asked for a long wait). */
  readonly excluded: ReadonlySet<T>
  readonly now: number
  /** A number in [0, 1). */
  readonly random: () => number
}

/** Does this upstream serve the model? */
export function serves (c: Candidate, model: string | undefined): boolean {
  return model === undefined || isModelAllowed(c.models, model)
}

/**
 * Picks the upstream for the next attempt, or undefined when none may take it:
 * - only upstreams that serve the model, take traffic now, and are not excluded;
 * - one not tried yet for this request, else one other than the last tried, else that one
 *   (the same upstream again only when there is no other);
 * - a first attempt goes to an upstream whose probe is due, so it comes back as soon as
 *   its cooldown is over (a failed probe is retried elsewhere like any failure);
 * - otherwise by weight.
 * @example const next = chooseUpstream(upstreams, { model: 'gpt-5.2', tried: [], excluded: new Set(), now: Date.now(), random: Math.random })
 */
export function chooseUpstream<T extends Candidate> (candidates: readonly T[], input: ChoiceInput<T>): T | undefined {
  const { model, tried, excluded, now } = input
  // The common set-up, one upstream, without building lists.
  if (candidates.length === 1) {
    const only = candidates[0]!
    return serves(only, model) && only.health.available(now) && !excluded.has(only) ? only : undefined
  }
  const eligible = candidates.filter((c) => serves(c, model) && c.health.available(now) && !excluded.has(c))
  if (eligible.length <= 1) return eligible[0]
  let pool = eligible.filter((c) => !tried.includes(c))
  if (pool.length === 0) {
    const last = tried[tried.length - 1]
    pool = eligible.filter((c) => c !== last)
  }
  if (tried.length === 0) {
    const probe = pool.find((c) => c.health.probeDue(now))
    if (probe !== undefined) return probe
  }
  return byWeight(pool, input.random())
}

/** Weighted pick: `r` in [0, 1) falls in one upstream's share of the total weight. */
export function byWeight<T extends { readonly weight: number }> (pool: readonly T[], r: number): T | undefined {
  let total = 0
  for (const c of pool) total += c.weight
  let point = r * total
  for (const c of pool) {
    point -= c.weight
    if (point < 0) return c
  }
  return pool[pool.length - 1]
}
