/**
 * Preloaded into the gateway by bench/attack.ts (`node --import`, see loop-report.ts):
 * measures the event loop from inside the process it belongs to, so the gateway's code
 * stays untouched. On SIGUSR2 it appends one JSON line to LOOP_PROBE_FILE: the delay
 * p50/p99/max in ms since the previous report, and memory. With LOOP_PROBE_GC=1 the
 * memory is read after a full collection (what the process still holds, not garbage V8
 * has yet to collect); the collection's own pause is left out of both intervals.
 */
import { appendFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { LoopReport } from './loop-report.js'

const file = process.env.LOOP_PROBE_FILE
if (file !== undefined && file !== '') {
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  let collect: (() => void) | undefined
  if (process.env.LOOP_PROBE_GC === '1') {
    setFlagsFromString('--expose-gc')
    collect = runInNewContext('gc') as () => void
  }
  let seq = 0
  const ms = (ns: number): number => Math.round(ns / 1e5) / 10
  process.on('SIGUSR2', () => {
    const loop = { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) }
    collect?.()
    collect?.()
    const m = process.memoryUsage()
    const report: LoopReport = { seq: ++seq, ...loop, rss: m.rss, heapUsed: m.heapUsed, external: m.external }
    // The sampler sees the collection's pause a tick late: reset after it.
    setTimeout(() => {
      delay.reset()
      appendFileSync(file, JSON.stringify(report) + '\n')
    }, 30)
  })
}
