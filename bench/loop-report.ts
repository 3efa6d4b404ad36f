import { existsSync, readFileSync } from 'node:fs'

/**
 * Reading what bench/loop-probe.ts measured inside a gateway process: the caller starts
 * the gateway with `loopProbeEnv(file)` and asks for a report with `loopReport`.
 */

export interface LoopReport {
  readonly seq: number
  /** Event-loop delay since the previous report, ms. */
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly rss: number
  readonly heapUsed: number
  readonly external: number
}

/** The environment that loads the probe into a node process (`gc`: a full collection before each report). */
export function loopProbeEnv (file: string, gc = false, probe = new URL('./loop-probe.js', import.meta.url).pathname): Record<string, string> {
  return { NODE_OPTIONS: `--import ${probe}`, LOOP_PROBE_FILE: file, LOOP_PROBE_GC: gc ? '1' : '0' }
}

/** Signals `pid` and waits (bounded) for its next report in `file`; undefined when none came. */
export async function loopReport (pid: number, file: string, timeoutMs = 10_000): Promise<LoopReport | undefined> {
  const last = (): LoopReport | undefined => {
    if (!existsSync(file)) return undefined
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    return lines[0] === '' ? undefined : JSON.parse(lines[lines.length - 1]!) as LoopReport
  }
  const before = last()?.seq ?? 0
  try {
    process.kill(pid, 'SIGUSR2')
  } catch {
    return undefined
  }
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    const r = last()
    if (r !== undefined && r.seq > before) return r
  }
  return undefined
}
