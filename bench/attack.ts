import { setMaxListeners } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { rssBytes } from './cpu.js'
import { BENCH_KEY, startGateway, type BenchGateway } from './gateway.js'
import { summarize } from './load.js'
import { loopProbeEnv, loopReport, type LoopReport } from './loop-report.js'
import { isMain, LOAD_CORE, pinSelf, spawnPinned, type Child } from './processes.js'
import { writeResultsBlock } from './report.js'

/**
 * `npm run bench:attack`: the gateway under hostile clients and a hostile upstream
 * (src/mock/hostile.ts in its own process, the attack chosen per request by `x-attack`).
 * Each attack gets a fresh gateway with bench/loop-probe.ts preloaded, which measures the
 * event-loop delay inside the gateway; a bystander sends one normal request every 50 ms
 * meanwhile. One row per attack: what the attacker got, the loop delay, the bystander's
 * latency, the gateway's RSS before, at its peak and 2 s after, and what it still held
 * after a full collection. An attack runs at most ATTACK_MS; a gateway that dies is a row
 * too. Writes the table into bench/README.md ("Under attack") unless `--no-write`.
 *
 *   --only NAME   run the attacks whose name contains NAME
 *   --no-write    print only
 */

const ATTACK_MS = 20_000
const SETTLE_MS = 2_000
const MiB = 1024 * 1024
const MODEL = 'gpt-5.2-chat-latest'
const MINI_KEY = 'sk-bench-mini-0123456789abcdefghijklmnopqrstuvwx'

const log = (s: string): void => { process.stderr.write(s + '\n') }

/** Attack traffic and the bystander on separate pools, so neither queues behind the other. */
const attackAgent = new Agent({ connections: 2_000, keepAliveTimeout: 30_000, headersTimeout: ATTACK_MS * 2, bodyTimeout: ATTACK_MS * 2 })
const bystanderAgent = new Agent({ connections: 4, keepAliveTimeout: 30_000 })

interface Sent {
  readonly status: number
  /** The OpenAI error code of an error answer, or the client's error code when the exchange broke. */
  readonly code: string | undefined
  readonly bytes: number
  /** A 200 JSON answer (small enough to check) that does not parse: the client got a truncated body as a success. */
  readonly broken?: boolean
}

interface SendOptions {
  readonly path?: string
  readonly body: string | Buffer
  readonly headers?: Record<string, string>
  readonly key?: string
  readonly signal: AbortSignal
}

/** Bytes of an answer kept to read its error code or check that it parses. */
const KEEP = 64 * 1024

function parses (text: string): boolean {
  try { JSON.parse(text); return true } catch { return false }
}

/** One request; the answer is read to its end and counted, not kept (it may be a gigabyte). */
async function send (g: BenchGateway, o: SendOptions): Promise<Sent> {
  try {
    const res = await request(`${g.url}/v1${o.path ?? '/chat/completions'}`, {
      method: 'POST',
      dispatcher: attackAgent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${o.key ?? BENCH_KEY}`, ...o.headers },
      body: o.body,
      signal: o.signal
    })
    let bytes = 0
    let head = ''
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (bytes < KEEP) head += chunk.toString('utf8', 0, Math.min(chunk.length, KEEP - bytes))
      bytes += chunk.length
    }
    let code: string | undefined
    if (res.statusCode >= 400) {
      try { code = (JSON.parse(head) as { error?: { code?: string } }).error?.code ?? undefined } catch {}
    }
    // A compressed answer is not judged: undici does not decode it.
    const json = String(res.headers['content-type']).includes('json') && res.headers['content-encoding'] === undefined
    const broken = res.statusCode === 200 && json && bytes < KEEP && !parses(head)
    return { status: res.statusCode, code, bytes, broken }
  } catch (err) {
    const e = err as { code?: unknown, name?: string, message?: string }
    return { status: 0, code: typeof e.code === 'string' ? e.code : e.name ?? e.message, bytes: 0 }
  }
}

/** `12× 400 body_too_complex, 1× 0 UND_ERR_SOCKET`; with the bytes received when they matter. */
function tally (all: readonly Sent[]): string {
  const counts = new Map<string, number>()
  for (const s of all) {
    const k = `${s.status === 0 ? 'error' : s.status}${s.code !== undefined ? ` ${s.code}` : ''}`
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  const bytes = all.reduce((n, s) => n + s.bytes, 0)
  const mb = bytes >= MiB ? `, ${(bytes / MiB).toFixed(0)} MiB received` : ''
  const broken = all.filter((s) => s.broken === true).length
  return [...counts].map(([k, n]) => `${n}× ${k}`).join(', ') + mb + (broken > 0 ? ` (${broken} of them truncated JSON)` : '')
}

/** `n` sends, at most `width` at once. */
async function many (n: number, width: number, one: (i: number) => Promise<Sent>): Promise<Sent[]> {
  const out: Sent[] = []
  let next = 0
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) out.push(await one(next++))
  }))
  return out
}

/** `n` empty arrays in `messages`: 3 bytes and one value each. */
function emptyArrays (n: number): Buffer {
  // The fill starts at 0 of its own buffer: `[],[],…[]`.
  return Buffer.concat([Buffer.from(`{"model":"${MODEL}","messages":[`), Buffer.alloc(n * 3 - 1, '[],'), Buffer.from(']}')])
}

/** Raw sockets to the gateway, opened `per100ms` per 100 ms (a faster ramp than 100 overflows the listen backlog). */
async function openSockets (g: BenchGateway, n: number, per100ms: number, signal: AbortSignal, onOpen: (s: Socket) => void): Promise<Socket[]> {
  const { hostname, port } = new URL(g.url)
  const sockets: Socket[] = []
  while (sockets.length < n && !signal.aborted) {
    const batch = Math.min(per100ms, n - sockets.length)
    for (let i = 0; i < batch; i++) {
      const s = connect(Number(port), hostname)
      s.on('error', () => {})
      onOpen(s)
      sockets.push(s)
    }
    await sleep(100)
  }
  return sockets
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

interface Attack {
  readonly name: string
  readonly side: 'client' | 'upstream'
  readonly env?: NodeJS.ProcessEnv
  readonly keys?: unknown[]
  /** Runs the attack; what the attacker got. */
  run (g: BenchGateway, signal: AbortSignal): Promise<string>
}

const chat = (extra: Record<string, unknown> = {}): string => JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], ...extra })

/** An upstream attack: `n` requests (`width` at once) that ask the hostile upstream for `attack`. */
function upstream (name: string, attack: string, mb: number, n: number, width: number, stream: boolean): Attack {
  return {
    name,
    side: 'upstream',
    run: async (g, signal) => tally(await many(n, width, async () => await send(g, { body: chat(stream ? { stream: true } : {}), headers: { 'x-attack': attack, 'x-attack-mb': String(mb) }, signal })))
  }
}

const ATTACKS: readonly Attack[] = [
  {
    name: '12× 30 MB body of 10M empty arrays, at once',
    side: 'client',
    run: async (g, signal) => {
      const body = emptyArrays(10_000_000)
      return tally(await Promise.all(Array.from({ length: 12 }, async () => await send(g, { body, signal }))))
    }
  },
  {
    name: '200× body nested 100,000 deep (chat stream, no stream_options, cache on), 10 at once',
    side: 'client',
    env: { CACHE_TTL_SECONDS: '60' },
    run: async (g, signal) => {
      const deep = '['.repeat(100_000) + ']'.repeat(100_000)
      const body = `{"model":"${MODEL}","stream":true,"messages":[{"role":"user","content":"hi"}],"extra":${deep}}`
      return tally(await many(200, 10, async () => await send(g, { body, signal })))
    }
  },
  {
    name: '300× 156 KB model name vs allow-list `*-mini*`, `gpt-*-nano*`, 6 at once',
    side: 'client',
    keys: [{ name: 'minis', key: MINI_KEY, models: ['*-mini*', 'gpt-*-nano*', '*o*-*mini*-*'] }],
    run: async (g, signal) => {
      const body = chat({ model: '-mini'.repeat(32_000) })
      return tally(await many(300, 6, async () => await send(g, { body, key: MINI_KEY, signal })))
    }
  },
  {
    name: '5× 2.7 MB body of 900,000 empty arrays (under the bound), 1 at a time',
    side: 'client',
    run: async (g, signal) => {
      const body = emptyArrays(900_000)
      return tally(await many(5, 1, async () => await send(g, { body, signal })))
    }
  },
  {
    name: '3× valid 30 MB body (one 30 MB string), at once',
    side: 'client',
    run: async (g, signal) => {
      const body = Buffer.from(chat({ messages: [{ role: 'user', content: 'a'.repeat(30_000_000) }] }))
      return tally(await Promise.all(Array.from({ length: 3 }, async () => await send(g, { body, signal }))))
    }
  },
  {
    name: 'slow body: 200 uploads of 1 KB at 10 bytes/s for 15 s',
    side: 'client',
    run: async (g, signal) => {
      const answered = { n: 0 }
      const sockets = await openSockets(g, 200, 100, signal, (s) => {
        s.once('data', () => { answered.n++ })
        s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer ${BENCH_KEY}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n`)
      })
      const end = Date.now() + 15_000
      while (Date.now() < end && !signal.aborted) {
        for (const s of sockets) if (!s.destroyed) s.write('a')
        await sleep(100)
      }
      const open = sockets.filter((s) => !s.destroyed).length
      for (const s of sockets) s.destroy()
      return `${sockets.length} opened, ${answered.n} answered early, ${open} still open after 15 s`
    }
  },
  {
    name: '1,000 idle keep-alive connections (one request each, 200 a second, then 10 s idle)',
    side: 'client',
    run: async (g, signal) => {
      const body = chat()
      const answered = { n: 0 }
      const sockets = await openSockets(g, 1_000, 20, signal, (s) => {
        s.once('data', () => { answered.n++ })
        s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer ${BENCH_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
      })
      await sleep(10_000)
      const open = sockets.filter((s) => !s.destroyed).length
      for (const s of sockets) s.destroy()
      return `${answered.n}/${sockets.length} answered, ${open} still open after 10 s idle`
    }
  },
  upstream('huge-event: one 1024 MiB SSE event, 1 stream', 'huge-event', 1024, 1, 1, true),
  upstream('late-choices: 32 MiB before "choices", chat stream without stream_options, 2 at once', 'late-choices', 32, 2, 2, true),
  upstream('big-json: 300 MiB JSON answer, 1 request', 'big-json', 300, 1, 1, false),
  upstream('short-length: content-length past the end, 100×, 4 at once', 'short-length', 0, 100, 4, false),
  upstream('reset-json: socket destroyed mid-answer, 100×, 4 at once', 'reset-json', 0, 100, 4, false),
  upstream('gzip: compressed answer despite identity, 100×, 4 at once', 'gzip', 0, 100, 4, false)
]

interface Bystander { stop (): Promise<{ times: number[], failures: number }> }

/** One normal chat request every 50 ms (at most 1,000); durations in ms. */
function bystander (g: BenchGateway): Bystander {
  const times: number[] = []
  let failures = 0
  const state = { running: true }
  const loop = (async () => {
    while (state.running && times.length + failures < 1_000) {
      const t = performance.now()
      try {
        const res = await request(`${g.url}/v1/chat/completions`, { method: 'POST', dispatcher: bystanderAgent, headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}` }, body: chat(), headersTimeout: 30_000, bodyTimeout: 30_000 })
        await res.body.dump()
        if (res.statusCode === 200) times.push(performance.now() - t)
        else failures++
      } catch {
        failures++
      }
      await sleep(50)
    }
  })()
  return { stop: async () => { state.running = false; await loop; return { times, failures } } }
}

interface Row {
  readonly attack: Attack
  readonly outcome: string
  readonly loop: LoopReport | undefined
  readonly bystander: { base: number, p50: number, max: number, n: number, failures: number } | undefined
  readonly rss: { before: number, peak: number, after: number | undefined } | undefined
  readonly held: number | undefined
}

function dead (g: Child): string | undefined {
  const p = g.proc
  if (p.exitCode === null && p.signalCode === null) return undefined
  return p.signalCode !== null ? `gateway died (${p.signalCode})` : `gateway died (exit ${p.exitCode})`
}

async function runOne (attack: Attack, hostileUrl: string): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'comet-bench-attack-'))
  const probe = join(dir, 'loop.jsonl')
  const g = await startGateway('gateway', { origin: hostileUrl, keys: attack.keys, env: { ...attack.env, ...loopProbeEnv(probe, true) } })
  let base = NaN
  try {
    // Warm-up (the first requests of a fresh process are slow), then the bystander's normal time.
    for (const phase of ['warm', 'base']) {
      const b = bystander(g)
      await sleep(phase === 'warm' ? 1_000 : 1_500)
      base = summarize((await b.stop()).times).p50
    }
    await loopReport(g.pid, probe)
    const before = rssBytes(g.pid) ?? 0
    let peak = before
    const sampler = setInterval(() => { const r = rssBytes(g.pid); if (r !== undefined && r > peak) peak = r }, 100)
    const b = bystander(g)
    const abort = new AbortController()
    setMaxListeners(0, abort.signal)
    const timer = setTimeout(() => abort.abort(), ATTACK_MS)
    let outcome: string
    try {
      outcome = await attack.run(g, abort.signal)
      if (abort.signal.aborted) outcome = `cut at ${ATTACK_MS / 1000} s: ${outcome}`
    } catch (err) {
      outcome = `attack failed: ${(err as Error).message}`
    } finally {
      clearTimeout(timer)
    }
    const by = await b.stop()
    const died = dead(g)
    const loop = died === undefined ? await loopReport(g.pid, probe) : undefined
    await sleep(SETTLE_MS)
    clearInterval(sampler)
    const after = dead(g) === undefined ? rssBytes(g.pid) : undefined
    const held = dead(g) === undefined ? await loopReport(g.pid, probe) : undefined
    const s = summarize(by.times)
    return {
      attack,
      outcome: died ?? dead(g) ?? outcome,
      loop,
      bystander: { base, p50: s.p50, max: s.max, n: by.times.length, failures: by.failures },
      rss: { before, peak, after },
      held: held === undefined ? undefined : held.heapUsed + held.external
    }
  } finally {
    await g.stop()
  }
}

const mb = (b: number | undefined): string => b === undefined ? '–' : `${(b / MiB).toFixed(0)}`

function table (rows: readonly Row[]): string {
  const lines = [
    '| attack | what the attacker got | gateway loop delay p50 / p99 / max ms | bystander p50 / max ms (normal p50; n, failed) | gateway RSS MB before → peak → 2 s after | held after GC MB |',
    '|---|---|---|---|---|---|'
  ]
  for (const r of rows) {
    const l = r.loop === undefined ? (r.rss?.after !== undefined ? 'no report within 10 s (loop blocked)' : '–') : `${r.loop.p50} / ${r.loop.p99} / ${r.loop.max}`
    const b = r.bystander === undefined || r.bystander.n === 0 ? `– (${r.bystander?.failures ?? 0} failed)` : `${r.bystander.p50.toFixed(0)} / ${r.bystander.max.toFixed(0)} (${r.bystander.base.toFixed(0)}; ${r.bystander.n}, ${r.bystander.failures})`
    const m = r.rss === undefined ? '–' : `${mb(r.rss.before)} → ${mb(r.rss.peak)} → ${mb(r.rss.after)}`
    lines.push(`| ${r.attack.side}: ${r.attack.name} | ${r.outcome.replace(/\|/g, '\\|')} | ${l} | ${b} | ${m} | ${mb(r.held)} |`)
  }
  return lines.join('\n')
}

async function startHostile (): Promise<{ child: Child, url: string }> {
  const script = new URL('../scripts/hostile-upstream.js', import.meta.url).pathname
  const child = spawnPinned('hostile upstream', LOAD_CORE, process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error('the hostile upstream did not start')), 20_000)
    child.proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /listening (\S+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1]!) }
    })
  })
  return { child, url }
}

async function main (): Promise<void> {
  const only = process.argv.indexOf('--only')
  const filter = only === -1 ? undefined : process.argv[only + 1]
  pinSelf(LOAD_CORE)
  const hostile = await startHostile()
  const rows: Row[] = []
  const started = Date.now()
  try {
    for (const attack of ATTACKS) {
      if (filter !== undefined && !attack.name.includes(filter)) continue
      log(`  ${attack.side}: ${attack.name}`)
      try {
        rows.push(await runOne(attack, hostile.url))
      } catch (err) {
        rows.push({ attack, outcome: `not run: ${(err as Error).message}`, loop: undefined, bystander: undefined, rss: undefined, held: undefined })
      }
      log(`    ${rows[rows.length - 1]!.outcome}`)
    }
  } finally {
    await hostile.child.stop()
    await attackAgent.destroy()
    await bystanderAgent.destroy()
  }
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ')
  const text = `${when} UTC, ${cpus().length} cores, shared and busy (load average ${loadavg()[0]!.toFixed(1)}), ${((Date.now() - started) / 1000).toFixed(0)} s in all; each attack on a fresh gateway with default limits:\n\n${table(rows)}`
  process.stdout.write(text + '\n')
  if (!process.argv.includes('--no-write') && filter === undefined) writeResultsBlock(new URL('../../bench/README.md', import.meta.url).pathname, text, 'attack')
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}
