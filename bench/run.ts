import { execFileSync } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { request } from 'undici'
import { startBareRelay } from './bare-relay.js'
import { measureCpu } from './cpu.js'
import { BENCH_KEY, startGateway } from './gateway.js'
import { fixedRate, maxThroughput, type BenchRequest } from './load.js'
import { startOrigin } from './origin.js'
import { hasTaskset, LOAD_CORE, pinSelf, type Child } from './processes.js'
import { startBenchRedis } from './redis.js'
import { fixedCpuTable, median, resultsTable, writeResultsBlock, type PeerResult } from './report.js'
import { runSlowStreams } from './slow-streams.js'
import { runSoak } from './soak.js'

/**
 * `npm run bench`: direct to the mock, the bare relay, the gateway (embedded store) and
 * the gateway (Redis) side by side in one run, rounds interleaved so that drift in the
 * machine's load hits every peer alike; medians of the rounds. Prints one Markdown table
 * and writes it to bench/README.md.
 *
 *   --quick             ~1 minute: 1 round of 2 s, 3 s at the fixed rate
 *   --rounds N          rounds of the max-throughput runs (default 6)
 *   --duration S        seconds per max-throughput run (default 3)
 *   --rate R            fixed rate, requests (streams) per second (default 300)
 *   --slow-streams N    also: N concurrent slow streams, one event a second
 *   --soak S            also: S seconds at a steady rate, RSS and event-loop lag curve
 *   --no-redis          skip the Redis variant
 *   --candidate FILE    also: a gateway from another build (FILE = its dist/src/main.js),
 *                       embedded store, as one more peer: A/B of a change under equal noise
 *                       (may be given more than once)
 *   --candidate-name S  its row's name (the n-th names the n-th candidate)
 *   --candidate-redis   the candidate also on Redis, as one more peer (its name + ", Redis")
 *   --no-fixed          skip the fixed-rate runs (latency, TTFB)
 *   --no-write          do not touch bench/README.md
 */

function flag (name: string): boolean { return process.argv.includes(name) }
function num (name: string, dflt: number): number {
  const i = process.argv.indexOf(name)
  return i === -1 ? dflt : Number(process.argv[i + 1])
}

const quick = flag('--quick')
// Many short rounds rather than a few long ones: on a shared machine the load of others
// comes and goes within seconds, and finer interleaving spreads it over every peer alike.
const rounds = num('--rounds', quick ? 1 : 6)
const durationS = num('--duration', quick ? 2 : 3)
const rate = num('--rate', 300)
const rateMs = quick ? 3000 : 10_000
const CONNECTIONS = 64

const headers = { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}` }
const messages = [{ role: 'user', content: 'Say hello.' }]
const chat: BenchRequest = { path: '/v1/chat/completions', headers, body: JSON.stringify({ model: 'gpt-5.2-chat-latest', messages }) }
const stream: BenchRequest = { path: '/v1/chat/completions', headers, body: JSON.stringify({ model: 'gpt-5.2-chat-latest', messages, stream: true }) }

interface Peer {
  name: string
  url: string
  /** The proxy process whose CPU is measured. */
  pid?: number
  /** A helper process whose CPU is reported beside it (Redis). */
  helperPid?: number
  /** A build other than this one (--candidate): left out of the slow-stream run. */
  candidate?: boolean
  rounds: PeerResult[]
  result: PeerResult
}

const log = (s: string): void => { process.stderr.write(s + '\n') }

async function preflight (peer: Peer): Promise<string> {
  const res = await request(peer.url + chat.path, { method: 'POST', headers: chat.headers, body: chat.body })
  await res.body.dump()
  if (res.statusCode !== 200) throw new Error(`${peer.name}: preflight answered ${res.statusCode}`)
  const h = res.headers
  const on = [
    h['x-ratelimit-limit-requests'] !== undefined ? 'limits' : undefined,
    h['x-gateway-cost-usd'] !== undefined ? 'metering' : undefined,
    h['x-gateway-cache'] !== undefined ? 'cache' : undefined
  ].filter(Boolean)
  return on.length > 0 ? on.join(', ') : 'no feature headers'
}

async function main (): Promise<void> {
  const started = new Date()
  const loadBefore = loadavg()
  const pinned = pinSelf(LOAD_CORE)
  log(`bench: ${quick ? 'quick, ' : ''}${rounds} round(s) of ${durationS} s, fixed rate ${rate}/s for ${rateMs / 1000} s; taskset ${pinned ? 'on' : 'absent'}; load ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`)
  const children: Child[] = []
  const stopAll = async (): Promise<void> => { await Promise.all(children.reverse().map((c) => c.stop())) }
  process.once('SIGINT', () => { stopAll().finally(() => process.exit(130)) })
  try {
    const origin = await startOrigin({ chunks: 20 })
    children.push(origin)
    const bare = await startBareRelay(origin.url, 256)
    children.push(bare)
    const gwEmbedded = await startGateway('gateway (embedded)', { origin: origin.url })
    children.push(gwEmbedded)
    const peers: Peer[] = [
      { name: 'direct to the mock', url: origin.url, rounds: [], result: { name: 'direct to the mock' } },
      { name: 'bare Node relay', url: bare.url, pid: bare.pid, rounds: [], result: { name: 'bare Node relay' } },
      { name: 'gateway, embedded store', url: gwEmbedded.url, pid: gwEmbedded.pid, rounds: [], result: { name: 'gateway, embedded store' } }
    ]
    // --candidate may be given more than once; the n-th --candidate-name names the n-th.
    const values = (name: string): string[] => process.argv.flatMap((a, i) => a === name && process.argv[i + 1] !== undefined ? [process.argv[i + 1]!] : [])
    const names = values('--candidate-name')
    const candidates = values('--candidate').map((main, i) => ({ main, name: names[i] ?? `candidate build ${i + 1}, embedded` }))
    for (const c of candidates) {
      const gw = await startGateway('gateway (candidate)', { origin: origin.url, main: c.main })
      children.push(gw)
      peers.push({ name: c.name, url: gw.url, pid: gw.pid, candidate: true, rounds: [], result: { name: c.name } })
    }
    if (!flag('--no-redis')) {
      const redis = await startBenchRedis()
      children.push(redis)
      const gwRedis = await startGateway('gateway (redis)', { origin: origin.url, redisUrl: redis.url })
      children.push(gwRedis)
      peers.push({ name: 'gateway, Redis', url: gwRedis.url, pid: gwRedis.pid, helperPid: redis.pid, rounds: [], result: { name: 'gateway, Redis' } })
      for (const c of flag('--candidate-redis') ? candidates : []) {
        // Same redis-server: the builds' state lives under the same bench key, which only
        // shares its (never reached) limits.
        const gw = await startGateway('gateway (candidate, redis)', { origin: origin.url, redisUrl: redis.url, main: c.main })
        children.push(gw)
        const name = c.name.replace(/, embedded$/, '') + ', Redis'
        peers.push({ name, url: gw.url, pid: gw.pid, helperPid: redis.pid, candidate: true, rounds: [], result: { name } })
      }
    }
    const features: string[] = []
    for (const p of peers) {
      const f = await preflight(p)
      if (p.name.startsWith('gateway')) features.push(`${p.name}: ${f}`)
    }
    log(`features seen in response headers: ${features.join('; ')}`)

    log('warm-up')
    for (const p of peers) {
      await maxThroughput(p.url, chat, quick ? 1 : 2, CONNECTIONS)
      await maxThroughput(p.url, stream, quick ? 1 : 2, CONNECTIONS)
    }

    for (let r = 0; r < rounds; r++) {
      for (const p of peers) p.rounds[r] = { name: p.name }
      for (const [kind, req] of [['non-stream', chat], ['stream', stream]] as const) {
        for (const p of peers) {
          const { cpuUs, result } = await measureCpu(p.pid, () => measureCpu(p.helperPid, () => maxThroughput(p.url, req, durationS, CONNECTIONS)))
          const t = result.result
          const helperUs = result.cpuUs
          if (t.bad > 0) log(`  WARNING ${p.name} ${kind}: ${t.bad} non-2xx answers or errors`)
          const row = p.rounds[r]!
          if (kind === 'non-stream') {
            Object.assign(row, { nsRps: t.rps, nsP50Ms: t.p50Ms, nsP99Ms: t.p99Ms, nsCpuUs: cpuUs === undefined ? undefined : cpuUs / t.total, helperNsCpuUs: helperUs === undefined ? undefined : helperUs / t.total })
          } else {
            Object.assign(row, { streamRps: t.rps, streamCpuUs: cpuUs === undefined ? undefined : cpuUs / t.total, helperStreamCpuUs: helperUs === undefined ? undefined : helperUs / t.total })
          }
          log(`  round ${r + 1} ${kind.padEnd(10)} ${p.name.padEnd(24)} ${t.rps.toFixed(0).padStart(6)} req/s  p50 ${t.p50Ms} ms  p99 ${t.p99Ms} ms${cpuUs === undefined ? '' : `  cpu ${(cpuUs / t.total).toFixed(1)} µs/req`}`)
        }
      }
    }

    for (const [kind, req] of flag('--no-fixed') ? [] : [['non-stream', chat], ['stream', stream]] as const) {
      for (const p of peers) {
        const { cpuUs, result: f } = await measureCpu(p.pid, () => fixedRate(p.url, req, rate, rateMs))
        if (f.failed > 0) log(`  WARNING ${p.name} fixed-rate ${kind}: ${f.failed} failed`)
        const cpu = cpuUs === undefined || f.ok === 0 ? undefined : cpuUs / f.ok
        if (kind === 'non-stream') Object.assign(p.result, { latP50Us: f.latencyUs.p50, latP99Us: f.latencyUs.p99, fixedNsCpuUs: cpu })
        else Object.assign(p.result, { ttfbP50Us: f.ttfbUs.p50, ttfbP99Us: f.ttfbUs.p99, fixedStreamCpuUs: cpu })
        log(`  ${rate}/s ${kind.padEnd(10)} ${p.name.padEnd(24)} ${kind === 'stream' ? 'ttfb' : 'latency'} p50 ${((kind === 'stream' ? f.ttfbUs : f.latencyUs).p50 / 1000).toFixed(3)} ms  p99 ${((kind === 'stream' ? f.ttfbUs : f.latencyUs).p99 / 1000).toFixed(3)} ms  (${f.ok}/${f.sent})${cpu === undefined ? '' : `  cpu ${cpu.toFixed(1)} µs/req`}`)
      }
    }

    for (const p of peers) {
      const m = (key: keyof PeerResult): number | undefined => median(p.rounds.map((r) => r[key] as number | undefined))
      Object.assign(p.result, {
        nsRps: m('nsRps'),
        nsP50Ms: m('nsP50Ms'),
        nsP99Ms: m('nsP99Ms'),
        nsCpuUs: m('nsCpuUs'),
        streamRps: m('streamRps'),
        streamCpuUs: m('streamCpuUs'),
        helperNsCpuUs: m('helperNsCpuUs'),
        helperStreamCpuUs: m('helperStreamCpuUs')
      })
    }
    const fixedCpu = fixedCpuTable(peers.map((p) => p.result), rate)
    const table = resultsTable(peers.map((p) => p.result), rate) + (fixedCpu.split('\n').length > 2 ? `\n\n${fixedCpu}` : '')
    const loadAfter = loadavg()
    const commit = gitCommit()
    const notes = [
      `Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${commit} with \`npm run bench${process.argv.slice(2).length > 0 ? ' -- ' + process.argv.slice(2).join(' ') : ''}\`.`,
      `Machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.version}; load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}.`,
      hasTaskset() ? 'Proxy pinned to core 0; mock, Redis and load client to core 1 (taskset).' : 'taskset missing: nothing pinned.',
      `Medians of ${rounds} interleaved round(s) of ${durationS} s (autocannon, ${CONNECTIONS} connections); fixed-rate rows: ${rate}/s for ${rateMs / 1000} s, µs-timed open-loop client, minus direct's figure.`,
      `Gateway features seen: ${features.join('; ')}; LOG_LEVEL=info (one line per request, to /dev/null).`
    ]
    const out = `${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}`
    process.stdout.write(`\n${out}\n`)
    if (!quick && !flag('--no-write')) writeResultsBlock(new URL('../../bench/README.md', import.meta.url).pathname, out)

    const slow = num('--slow-streams', 0)
    if (slow > 0) process.stdout.write('\n' + await runSlowStreams(slow, peers.filter((p) => p.pid !== undefined && p.candidate !== true).map((p) => ({ name: p.name, kind: p.name.startsWith('bare') ? 'bare' : p.helperPid !== undefined ? 'redis' : 'embedded' }))) + '\n')
    const soak = num('--soak', 0)
    if (soak > 0) process.stdout.write('\n' + await runSoak(soak, gwEmbedded, rate) + '\n')
  } finally {
    await stopAll()
  }
}

function gitCommit (): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
