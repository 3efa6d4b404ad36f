import { request } from 'undici'
import { openFds, rssBytes } from './cpu.js'
import { BENCH_KEY } from './gateway.js'
import { fixedRate, type BenchRequest } from './load.js'

/**
 * `--soak S`: the embedded gateway at a steady `rate` (two thirds plain requests, one
 * third 20-chunk streams) for S seconds, sampled 30 times: RSS, open descriptors, heap
 * and the event-loop delay since the previous sample (prom-client's monitorEventLoopDelay
 * gauges on /metrics, reset at every scrape). That histogram times a 10 ms repeating timer,
 * so an idle loop reads 10 ms: the table shows the delay beyond those 10 ms.
 */

const SAMPLING_S = 0.010 // prom-client's default monitorEventLoopDelay resolution

interface Sample { t: number, rss?: number, fds?: number, heap?: number, lagP99?: number, lagMax?: number }

function metric (text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text)
  return m === null ? undefined : Number(m[1])
}

async function scrape (url: string): Promise<string> {
  const res = await request(`${url}/metrics`)
  return await res.body.text()
}

export async function runSoak (seconds: number, gateway: { url: string, pid: number }, rate: number): Promise<string> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}` }
  const messages = [{ role: 'user', content: 'soak' }]
  const chat: BenchRequest = { path: '/v1/chat/completions', headers, body: JSON.stringify({ model: 'gpt-5.2-chat-latest', messages }) }
  const stream: BenchRequest = { path: '/v1/chat/completions', headers, body: JSON.stringify({ model: 'gpt-5.2-chat-latest', messages, stream: true }) }
  const samples: Sample[] = []
  const t0 = Date.now()
  const take = async (): Promise<void> => {
    const text = await scrape(gateway.url).catch(() => '')
    samples.push({
      t: Math.round((Date.now() - t0) / 1000),
      rss: rssBytes(gateway.pid),
      fds: openFds(gateway.pid),
      heap: metric(text, 'nodejs_heap_size_used_bytes'),
      lagP99: metric(text, 'nodejs_eventloop_lag_p99_seconds'),
      lagMax: metric(text, 'nodejs_eventloop_lag_max_seconds')
    })
  }
  await take()
  process.stderr.write(`  soak: ${seconds} s at ${rate}/s through the embedded gateway\n`)
  const every = Math.max(1000, Math.round(seconds * 1000 / 30))
  const timer = setInterval(() => { take().catch(() => {}) }, every)
  const [plain, streams] = await Promise.all([
    fixedRate(gateway.url, chat, Math.round(rate * 2 / 3), seconds * 1000),
    fixedRate(gateway.url, stream, Math.round(rate / 3), seconds * 1000)
  ])
  clearInterval(timer)
  await take()
  const mb = (b: number | undefined): string => b === undefined ? '–' : (b / 1048576).toFixed(1)
  const msf = (s: number | undefined): string => s === undefined ? '–' : (Math.max(0, s - SAMPLING_S) * 1000).toFixed(2)
  const rows = ['| t (s) | RSS MB | heap used MB | open fds | event-loop delay beyond 10 ms, p99 / max ms |', '|---|---|---|---|---|']
  for (const s of samples) rows.push(`| ${s.t} | ${mb(s.rss)} | ${mb(s.heap)} | ${s.fds ?? '–'} | ${msf(s.lagP99)} / ${msf(s.lagMax)} |`)
  const first = samples[1] ?? samples[0]!
  const last = samples[samples.length - 1]!
  return [
    `Soak: ${seconds} s at ${rate}/s (${plain.ok}/${plain.sent} plain, latency p50 ${(plain.latencyUs.p50 / 1000).toFixed(2)} ms p99 ${(plain.latencyUs.p99 / 1000).toFixed(2)} ms; ${streams.ok}/${streams.sent} streams, TTFB p50 ${(streams.ttfbUs.p50 / 1000).toFixed(2)} ms p99 ${(streams.ttfbUs.p99 / 1000).toFixed(2)} ms).`,
    `RSS ${mb(first.rss)} → ${mb(last.rss)} MB, open fds ${first.fds ?? '–'} → ${last.fds ?? '–'}.`,
    '',
    rows.join('\n')
  ].join('\n')
}
