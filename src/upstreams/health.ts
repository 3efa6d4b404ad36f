/**
 * Health of one upstream, as a small state machine driven by the outcomes of its attempts:
 *
 *   up ──(N failures in a row)──▶ cooling ──(cooldown over)──▶ probe due
 *    ▲                              ▲                            │ one attempt taken
 *    │                              └────────(probe failed)── probing
 *    └──────────────────────────────────(probe succeeded)───────┘
 *
 * While cooling or probing it takes no traffic; when the cooldown is over, exactly one
 * attempt (the probe) is let through and its outcome decides. An attempt that ends
 * without a verdict (the client left) gives the probe slot back.
 * Pure: time comes in as `now` (milliseconds), nothing here schedules anything.
 */
export type HealthState = 'up' | 'cooling' | 'probing'

export interface HealthOptions {
  /** Failures in a row that start a cooldown. */
  readonly failuresToCooldown: number
  readonly cooldownMs: number
  /** Called when the upstream starts or stops taking traffic (the `up` gauge). */
  readonly onChange?: (up: boolean) => void
}

export class UpstreamHealth {
  private state: HealthState = 'up'
  private failures = 0
  private coolUntil = 0

  constructor (private readonly options: HealthOptions) {}

  /** True while the upstream takes traffic (not cooling, not waiting for its probe's verdict). */
  get up (): boolean { return this.state === 'up' }

  /** Milliseconds until the probe is due; 0 when up or due now, Infinity while a probe is out. */
  waitMs (now: number): number {
    if (this.state === 'up') return 0
    if (this.state === 'probing') return Infinity
    return Math.max(0, this.coolUntil - now)
  }

  /** May an attempt go to this upstream now? */
  available (now: number): boolean {
    return this.state === 'up' || (this.state === 'cooling' && now >= this.coolUntil)
  }

  /** The cooldown is over and no probe is out: the next attempt here is the probe. */
  probeDue (now: number): boolean {
    return this.state === 'cooling' && now >= this.coolUntil
  }

  /** An attempt goes out. Returns true when it is the probe. Call only when `available`. */
  begin (now: number): boolean {
    if (this.probeDue(now)) {
      this.state = 'probing'
      return true
    }
    return false
  }

  /** The upstream answered (any status that is not a failure). */
  succeed (): void {
    this.failures = 0
    if (this.state !== 'up') this.set('up')
  }

  /** The attempt failed (connection, timeout, 429, 5xx). `probe` is what `begin` returned. */
  fail (now: number, probe: boolean): void {
    this.failures++
    if (probe || (this.state === 'up' && this.failures >= this.options.failuresToCooldown)) {
      this.coolUntil = now + this.options.cooldownMs
      if (this.state === 'up') this.set('cooling')
      else this.state = 'cooling'
    }
  }

  /** The attempt ended without a verdict (the client left): a probe's slot is free again. */
  release (probe: boolean): void {
    if (probe && this.state === 'probing') this.state = 'cooling'
  }

  private set (state: HealthState): void {
    this.state = state
    this.options.onChange?.(state === 'up')
  }
}
