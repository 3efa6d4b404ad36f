import type { Logger } from 'pino'
import { gatewayError } from '../errors.js'
import type { Metrics } from '../metrics/metrics.js'

/** How the limits interceptor treats a store it cannot reach. */
export interface FailMode {
  /**
   * A store call failed: counts it in `gateway_limiter_errors_total` and logs once per
   * outage. Throws the 503 `limits_unavailable` when failing closed and `refuse` is set;
   * returns (serve without the limit) otherwise.
   */
  failed (err: unknown, during: 'acquire' | 'settle' | 'budget', refuse: boolean): void
  /** A store call succeeded: ends the outage (logged once). */
  answered (): void
}

/**
 * LIMITS_FAIL_MODE as an object: `open` serves without limits while the store is down,
 * `closed` refuses requests of limited keys. One warning per outage, not one per request.
 * @example const fail = createFailMode(config.LIMITS_FAIL_MODE, log, metrics)
 */
export function createFailMode (mode: 'open' | 'closed', log: Logger, metrics: Metrics): FailMode {
  let outage = false
  return {
    failed (err, during, refuse) {
      metrics.limiterErrors.inc()
      if (!outage) {
        outage = true
        log.warn({ err: (err as Error).message, during, failMode: mode }, 'limits store unreachable: ' + (mode === 'closed' ? 'refusing limited keys (503)' : 'serving without limits'))
      }
      if (refuse && mode === 'closed') throw gatewayError('GW_ERR_LIMITS_UNAVAILABLE', [], { cause: err })
    },
    answered () {
      if (!outage) return
      outage = false
      log.info('limits store reachable again')
    }
  }
}
