import type { FeatureContext } from '../feature.js'

/** Counts store failures and logs them once per outage (a dead Redis must not flood the log). */
export function storeHealth (ctx: FeatureContext, kind: string): { ok (): void, failed (op: 'get' | 'set', err: unknown): void } {
  let down = false
  return {
    ok () {
      if (!down) return
      down = false
      ctx.log.info({ store: kind }, 'cache store answers again')
    },
    failed (op, err) {
      ctx.metrics.cacheErrors.inc({ op })
      if (down) return
      down = true
      ctx.log.warn({ store: kind, op, err: (err as Error)?.message }, 'cache store failing: serving misses')
    }
  }
}
