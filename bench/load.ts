import autocannon from 'autocannon'
import { Pool, type Dispatcher } from 'undici'

/**
 * The two load generators:
 * - `maxThroughput`: autocannon, closed loop, as many requests as the target takes
 *   (req/s; its latency histogram has 1 ms steps, so latency comes from the other one);
 * - `fixedRate`: an open-loop client at a fixed rate with CLOCK_MONOTONIC timing in
 *   microseconds: latency to the last byte, and time to the first body byte for streams.
 * Both are bounded in count and in time.
 */

export interface BenchRequest {
  readonly path: string
  readonly body: string
  readonly headers: Record<string, string>
}

export interface Throughput {
  /** Completed requests per second. */
  rps: number
  /** Completed requests. */
  total: number
  p50Ms: number
  p99Ms: number
  /** Non-2xx answers and connection errors: any of them makes the run suspect. */
  bad: number
}

/** Closed-loop maximum throughput with autocannon. */
export async function maxThroughput (base: string, req: BenchRequest, durationS: number, connections: number): Promise<Throughput> {
  const r = await autocannon({
    url: base + req.path,
    method: 'POST',
    headers: req.headers,
    body: req.body,
    connections,
    pipelining: 1,
    duration: durationS,
    timeout: 10
  })
  const total = r.requests.total
  return { rps: total / r.duration, total, p50Ms: r.latency.p50, p99Ms: r.latency.p99, bad: r.non2xx + r.errors }
}

/** Percentiles of a sample, in the sample's unit. */
export interface Summary {
  n: number
  p50: number
  p99: number
  max: number
}

export function summarize (values: ArrayLike<number>, n = values.length): Summary {
  const sorted = Float64Array.from({ length: n }, (_, i) => values[i]!).sort()
  const at = (q: number): number => n === 0 ? NaN : sorted[Math.min(n - 1, Math.floor(q * n))]!
  return { n, p50: at(0.5), p99: at(0.99), max: n === 0 ? NaN : sorted[n - 1]! }
}

export interface FixedRateResult {
  sent: number
  ok: number
  failed: number
  /** Request sent → last body byte, µs. */
  latencyUs: Summary
  /** Request sent → first body byte, µs. */
  ttfbUs: Summary
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)

/**
 * Sends `rate` requests a second for `durationMs`, open loop: request i leaves at
 * start + i/rate whether or not earlier ones have answered (a timer checks every
 * millisecond), so a slow target cannot slow the client down and hide its own latency.
 * Latency is measured from the moment the request is handed to the socket pool.
 */
export async function fixedRate (base: string, req: BenchRequest, rate: number, durationMs: number): Promise<FixedRateResult> {
  const total = Math.max(1, Math.round(rate * durationMs / 1000))
  const pool = new Pool(base, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 })
  const latency = new Float64Array(total)
  const ttfb = new Float64Array(total)
  let sent = 0
  let done = 0
  let ok = 0
  let failed = 0
  let firsts = 0
  const body = Buffer.from(req.body)
  const opts: Dispatcher.DispatchOptions = { method: 'POST', path: req.path, headers: req.headers, body }

  await new Promise<void>((resolve) => {
    const deadline = setTimeout(resolve, durationMs + 15_000)
    const finish = (): void => {
      if (++done === total) { clearTimeout(deadline); resolve() }
    }
    const fire = (): void => {
      const t0 = nowUs()
      let status = 0
      let first = true
      pool.dispatch(opts, {
        onRequestStart () {}, // new-style handler: undici checks for this method
        onResponseStart (_c, statusCode) { status = statusCode },
        onResponseData () {
          if (first) {
            first = false
            if (status < 300 && firsts < total) ttfb[firsts++] = nowUs() - t0
          }
        },
        onResponseEnd () {
          if (status < 300) latency[ok++] = nowUs() - t0
          else failed++
          finish()
        },
        onResponseError () { failed++; finish() }
      })
    }
    const start = nowUs()
    const tick = (): void => {
      const due = Math.min(total, Math.floor((nowUs() - start) * rate / 1e6) + 1)
      while (sent < due) { sent++; fire() }
      if (sent < total) setTimeout(tick, 1)
    }
    tick()
  })
  await pool.destroy()
  return { sent, ok, failed, latencyUs: summarize(latency, ok), ttfbUs: summarize(ttfb, firsts) }
}
