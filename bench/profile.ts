import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatSummary, summarizeProfile } from './cpuprofile-summary.js'
import { BENCH_KEY, startGateway } from './gateway.js'
import { maxThroughput, type BenchRequest } from './load.js'
import { startOrigin } from './origin.js'
import { LOAD_CORE, pinSelf } from './processes.js'
import { startBenchRedis } from './redis.js'

/**
 * `node dist/bench/profile.js [--stream] [--redis] [--duration S] [--out file.md]`:
 * runs the gateway under `node --cpu-prof` at full load (non-stream chat, or 20-chunk
 * streams with --stream), stops it with SIGTERM (the profile is written on exit) and
 * prints where its CPU time goes.
 */

const argv = process.argv
const has = (f: string): boolean => argv.includes(f)
const val = (f: string): string | undefined => { const i = argv.indexOf(f); return i === -1 ? undefined : argv[i + 1] }

async function main (): Promise<void> {
  pinSelf(LOAD_CORE)
  const stream = has('--stream')
  const durationS = Number(val('--duration') ?? 10)
  const dir = mkdtempSync(join(tmpdir(), 'comet-bench-prof-'))
  const origin = await startOrigin({ chunks: 20 })
  const redis = has('--redis') ? await startBenchRedis() : undefined
  const gw = await startGateway('gateway (profiled)', { origin: origin.url, redisUrl: redis?.url, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] })
  const window = { fromUs: 0, toUs: Infinity }
  const body = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'Say hello.' }], ...(stream ? { stream: true } : {}) })
  const req: BenchRequest = { path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}` }, body }
  try {
    await maxThroughput(gw.url, req, 2, 64) // warm-up: start-up and JIT stay out of the summary
    window.fromUs = Number(process.hrtime.bigint() / 1000n)
    const t = await maxThroughput(gw.url, req, durationS, 64)
    window.toUs = Number(process.hrtime.bigint() / 1000n)
    process.stderr.write(`profiled ${t.total} ${stream ? 'streams' : 'requests'} (${t.rps.toFixed(0)}/s, ${t.bad} bad)\n`)
  } finally {
    await gw.stop()
    await redis?.stop()
    await origin.stop()
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`)
  const text = formatSummary(summarizeProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')), 25, window), `gateway${redis !== undefined ? ' (Redis)' : ''}, ${stream ? '20-chunk streams' : 'non-stream chat'}, ${durationS} s at full load (warm-up left out)`)
  process.stdout.write(`${text}\n\nprofile: ${join(dir, file)}\n`)
  const out = val('--out')
  if (out !== undefined) writeFileSync(out, text + '\n')
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`profile failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
