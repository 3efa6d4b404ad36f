import { readdirSync, readFileSync } from 'node:fs'

/**
 * What /proc says about a process: CPU time (utime + stime, all threads), resident memory
 * and open descriptors. Linux only; on other systems every reader returns undefined and
 * the table shows "–".
 *
 * /proc/<pid>/stat counts CPU time in clock ticks (USER_HZ, 100 per second on Linux), so a
 * single reading is only good to 10 ms: the benchmark divides deltas over runs of several
 * seconds (hundreds of thousands of requests), which puts the error well under 1 µs per request.
 */

const TICK_US = 10_000 // 1e6 / USER_HZ; USER_HZ is 100 on every Linux ABI Node runs on

function statFields (pid: number): string[] | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

/** utime + stime of `pid` (every thread, children excluded) in microseconds. */
export function cpuMicros (pid: number): number | undefined {
  const f = statFields(pid)
  if (f === undefined) return undefined
  // After the name: state(3) … utime is field 14, stime 15 (1-based, man 5 proc).
  return (Number(f[11]) + Number(f[12])) * TICK_US
}

/** Resident set size of `pid` in bytes (VmRSS). */
export function rssBytes (pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

/** Number of open file descriptors of `pid`. */
export function openFds (pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return undefined
  }
}

/**
 * Measures the CPU a process spends while `work` runs.
 * @example const { cpuUs, result } = await measureCpu(gateway.pid, () => runAutocannon(opts))
 */
export async function measureCpu<T> (pid: number | undefined, work: () => Promise<T>): Promise<{ cpuUs: number | undefined, result: T }> {
  const before = pid === undefined ? undefined : cpuMicros(pid)
  const result = await work()
  const after = pid === undefined ? undefined : cpuMicros(pid)
  return { cpuUs: before === undefined || after === undefined ? undefined : after - before, result }
}
