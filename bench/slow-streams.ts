import { Pool } from 'undici'
import { startBareRelay } from './bare-relay.js'
import { rssBytes } from './cpu.js'
import { BENCH_KEY, startGateway } from './gateway.js'
import { summarize } from './load.js'
import { startOrigin } from './origin.js'
import { startBenchRedis } from './redis.js'
import type { Child } from './processes.js'

/**
 * `--slow-streams N`: N chat streams open at once, one event a second from the origin
 * (each event stamped with its write time on CLOCK_MONOTONIC), through each proxy
 * started fresh. Reports the relay delay of every event (receipt − write, minus nothing:
 * direct's row is the floor of client + origin) and the proxy's RSS growth per stream.
 */

export interface SlowPeer {
  name: string
  kind: 'bare' | 'embedded' | 'redis'
}

const EVENTS = 15
const EVERY_MS = 1000
// Connects per 100 ms (1,000 a second): a faster ramp overflowed the gateway's listen
// backlog (511) on a busy machine, and the SYN retries then measured the ramp, not the relay.
const RAMP_PER_100MS = 100
const T = Buffer.from('"t":')

const log = (s: string): void => { process.stderr.write(s + '\n') }

/** Opens `n` streams against `base`, returns every event's delay (µs) and completed streams. */
async function openStreams (base: string, n: number, onAllOpen: () => void): Promise<{ delaysUs: Float64Array, count: number, completed: number, failed: number, reasons: Map<string, number> }> {
  const pool = new Pool(base, { connections: n, pipelining: 1, keepAliveTimeout: 60_000, bodyTimeout: 60_000, headersTimeout: 60_000 })
  const delays = new Float64Array(n * EVENTS)
  let count = 0
  let completed = 0
  let failed = 0
  let firsts = 0
  const reasons = new Map<string, number>()
  const fail = (why: string): void => { failed++; reasons.set(why, (reasons.get(why) ?? 0) + 1) }
  const body = Buffer.from(JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'slow' }], stream: true }))
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}` }
  await new Promise<void>((resolve) => {
    let finished = 0
    const deadline = setTimeout(resolve, n / RAMP_PER_100MS * 100 + (EVENTS + 20) * EVERY_MS)
    const done = (): void => { if (++finished === n) { clearTimeout(deadline); resolve() } }
    const open = (): void => {
      let first = true
      let status = 0
      pool.dispatch({ method: 'POST', path: '/v1/chat/completions', headers, body }, {
        onRequestStart () {}, // new-style handler: undici checks for this method
        onResponseStart (_c, s) { status = s },
        onResponseData (_c, chunk: Buffer) {
          const now = process.hrtime.bigint()
          if (first) { first = false; if (++firsts === n) onAllOpen() }
          for (let i = chunk.indexOf(T); i !== -1 && count < delays.length; i = chunk.indexOf(T, i + 4)) {
            let j = i + 4
            while (chunk[j]! >= 0x30 && chunk[j]! <= 0x39) j++
            delays[count++] = Number((now - BigInt(chunk.toString('latin1', i + 4, j))) / 1000n)
          }
        },
        onResponseEnd () { if (status === 200) completed++; else fail(`HTTP ${status}`); done() },
        onResponseError (_c, err) { fail((err as { code?: string }).code ?? err.message); done() }
      })
    }
    let opened = 0
    const ramp = setInterval(() => {
      for (let i = 0; i < RAMP_PER_100MS && opened < n; i++, opened++) open()
      if (opened >= n) clearInterval(ramp)
    }, 100)
  })
  await pool.destroy()
  return { delaysUs: delays, count, completed, failed, reasons }
}

/** Runs the slow-stream scenario for direct and each proxy kind; returns a Markdown table. */
export async function runSlowStreams (n: number, peers: readonly SlowPeer[]): Promise<string> {
  const origin = await startOrigin({ chunks: 1, slowMs: EVERY_MS, slowEvents: EVENTS })
  const rows = ['| peer | streams completed | event delay p50 / p99 / max ms | proxy RSS before → peak | RSS growth per stream |', '|---|---|---|---|---|']
  try {
    for (const peer of [{ name: 'direct to the mock', kind: 'direct' as const }, ...peers]) {
      const children: Child[] = []
      try {
        let url = origin.url
        let pid: number | undefined
        if (peer.kind === 'bare') {
          const b = await startBareRelay(origin.url, n + 100)
          children.push(b); url = b.url; pid = b.pid
        } else if (peer.kind === 'embedded' || peer.kind === 'redis') {
          const redis = peer.kind === 'redis' ? await startBenchRedis() : undefined
          if (redis !== undefined) children.push(redis)
          const g = await startGateway(peer.name, { origin: origin.url, redisUrl: redis?.url, connections: n + 100 })
          children.push(g); url = g.url; pid = g.pid
        }
        // Warm the proxy (JIT, pools) with a few streams before taking its baseline RSS.
        await openStreams(url, 20, () => {})
        const before = pid === undefined ? undefined : rssBytes(pid)
        let peak = before ?? 0
        const sampler = setInterval(() => { const r = pid === undefined ? undefined : rssBytes(pid); if (r !== undefined && r > peak) peak = r }, 250)
        log(`  slow streams: ${n} through ${peer.name}`)
        const r = await openStreams(url, n, () => { log(`    all ${n} streams open`) })
        clearInterval(sampler)
        const d = summarize(r.delaysUs, r.count)
        const mb = (b: number | undefined): string => b === undefined ? '–' : `${(b / 1048576).toFixed(0)} MB`
        rows.push(`| ${peer.name} | ${r.completed}/${n}${r.failed > 0 ? ` (${r.failed} failed: ${[...r.reasons].map(([k, v]) => `${k} ×${v}`).join(', ')})` : ''} | ${(d.p50 / 1000).toFixed(2)} / ${(d.p99 / 1000).toFixed(2)} / ${(d.max / 1000).toFixed(1)} | ${before === undefined ? '–' : `${mb(before)} → ${mb(peak)}`} | ${before === undefined ? '–' : `${((peak - before) / n / 1024).toFixed(1)} KB`} |`)
      } finally {
        await Promise.all(children.reverse().map((c) => c.stop()))
      }
    }
  } finally {
    await origin.stop()
  }
  return `${n} concurrent slow streams (${EVENTS} events, one every ${EVERY_MS} ms; delay = client receipt − origin write):\n\n${rows.join('\n')}`
}
