import { gatewayError } from '../errors.js'

/**
 * Failed admin authentications per client address, in fixed windows that start at an
 * address's first failure. Once an address has failed `maxFailures` times in its window,
 * every further attempt from it is refused until the window ends, a correct key
 * included: otherwise a guess that happens to be right would still get through, and the
 * throttle would bound nothing. The table holds at most `maxAddresses`; past that the
 * address whose window started first is forgotten, so memory stays bounded whatever
 * the number of addresses.
 */

export interface AuthThrottleOptions {
  /** Failures allowed in a window; the next attempt is refused (10). */
  readonly maxFailures?: number
  /** Window length, ms (one minute). */
  readonly windowMs?: number
  /** Addresses remembered at once (10,000). */
  readonly maxAddresses?: number
  readonly now?: () => number
}

interface Window {
  readonly start: number
  failures: number
}

/**
 * @example const t = new AuthThrottle(); if (t.blockedFor(ip) > 0) refuse(); else if (!ok) t.fail(ip)
 */
export class AuthThrottle {
  readonly maxFailures: number
  readonly windowMs: number
  readonly maxAddresses: number
  private readonly now: () => number
  // Insertion order is window-start order: a new window is re-inserted at the end.
  private readonly windows = new Map<string, Window>()

  constructor (opts: AuthThrottleOptions = {}) {
    this.maxFailures = opts.maxFailures ?? 10
    this.windowMs = opts.windowMs ?? 60_000
    this.maxAddresses = opts.maxAddresses ?? 10_000
    this.now = opts.now ?? Date.now
  }

  /** Milliseconds until `address` may try again; 0 when it may try now. */
  blockedFor (address: string): number {
    const w = this.current(address)
    if (w === undefined || w.failures < this.maxFailures) return 0
    return w.start + this.windowMs - this.now()
  }

  /** Counts one failed attempt of `address`. */
  fail (address: string): void {
    const w = this.current(address)
    if (w !== undefined) { w.failures++; return }
    this.windows.set(address, { start: this.now(), failures: 1 })
    if (this.windows.size > this.maxAddresses) this.windows.delete(this.windows.keys().next().value!)
  }

  /** Addresses remembered now. */
  get size (): number {
    return this.windows.size
  }

  /** The address's window if it is still open (an ended one is dropped). */
  private current (address: string): Window | undefined {
    const w = this.windows.get(address)
    if (w === undefined) return undefined
    if (this.now() - w.start < this.windowMs) return w
    this.windows.delete(address)
    return undefined
  }
}

/** Throws 429 (with when to retry) while `address` is throttled. */
export function refuseThrottled (throttle: AuthThrottle, address: string): void {
  const wait = throttle.blockedFor(address)
  if (wait > 0) throw gatewayError('GW_ERR_ADMIN_THROTTLED', [], { headers: { 'retry-after': String(Math.ceil(wait / 1000)) } })
}

/**
 * One authentication attempt from `address`: refused with 429 while the address is
 * throttled, without running `check`; else `check`'s verdict, a failure counted.
 * @example if (!admitThrottled(throttle, request.ip, () => secretEquals(token, key))) throw gatewayError('GW_ERR_ADMIN_UNAUTHORIZED')
 */
export function admitThrottled (throttle: AuthThrottle, address: string, check: () => boolean): boolean {
  refuseThrottled(throttle, address)
  if (check()) return true
  throttle.fail(address)
  return false
}
