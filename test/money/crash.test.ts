import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { tempDataDir } from '../helpers/gateway.js'
import { ensureBuilt, spawnNode, type Spawned } from '../helpers/process.js'
import { freePort, startRedis, type PrivateRedis } from '../helpers/redis.js'

const KEY = 'sk-crash-0123456789abcdefghijklmnopqrstuvw'
const ADMIN = 'admin-crash-0123456789abcdefghijk'
const USAGE = { input: 1000, cached: 600, output: 500, reasoning: 200 }
const BURST = 400

interface Proc { p: Spawned, url: string }

async function startProcess (mock: MockUpstream, dataDir: string, env: Record<string, string> = {}): Promise<Proc> {
  const port = await freePort()
  const config = join(dataDir, 'config.json')
  writeFileSync(config, JSON.stringify({ keys: [{ name: 'crash', key: KEY }] }))
  const p = spawnNode('dist/src/main.js', {
    PORT: String(port),
    HOST: '127.0.0.1',
    UPSTREAM_BASE_URL: mock.baseUrl,
    UPSTREAM_API_KEY: 'sk-upstream-crash-secret',
    ADMIN_KEY: ADMIN,
    DATA_DIR: dataDir,
    GATEWAY_CONFIG: config,
    LOG_LEVEL: 'warn',
    ...env
  })
  // LOG_LEVEL warn hides the listening line: poll /healthz.
  const url = `http://127.0.0.1:${port}`
  const end = Date.now() + 30_000
  for (;;) {
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false)
    if (ok) break
    if (Date.now() > end) throw new Error('gateway did not start:\n' + p.stderr.join(''))
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { p, url }
}

/** One request read to its last byte, as a client that got its whole answer. */
async function call (url: string, stream: boolean): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }], stream }),
    signal: AbortSignal.timeout(60_000)
  })
  await res.arrayBuffer()
  return res.status
}

/** `n` streamed and `n` non-stream requests, at most `width` at a time; every status. */
async function burst (url: string, n: number, width = 32): Promise<number[]> {
  const jobs = Array.from({ length: 2 * n }, (_, i) => i % 2 === 0)
  const statuses: number[] = []
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) {
      const stream = jobs[next++]!
      statuses.push(await call(url, stream))
    }
  }))
  return statuses
}

async function usageTotals (url: string): Promise<{ requests: number, input_tokens: number, cached_input_tokens: number, output_tokens: number, reasoning_tokens: number, cost_usd: number }> {
  const res = await fetch(`${url}/admin/usage?group_by=key`, { headers: { authorization: `Bearer ${ADMIN}` } })
  const body = await res.json() as { data: Array<Record<string, number>> }
  const sum = { requests: 0, input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, cost_usd: 0 }
  for (const row of body.data) for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum[k] += row[k] ?? 0
  return sum
}

async function kill9 (p: Spawned): Promise<void> {
  p.proc.kill('SIGKILL')
  await p.exited
}

describe('kill -9 right after a burst: no usage record lost or counted twice', () => {
  let mock: MockUpstream
  let redis: PrivateRedis | undefined
  const procs: Spawned[] = []
  beforeAll(async () => {
    ensureBuilt()
    mock = await startMockUpstream({ usage: USAGE, chunks: 5 })
  }, 120_000)
  afterAll(async () => {
    for (const p of procs) if (p.proc.exitCode === null) await kill9(p)
    await mock?.close()
    await redis?.stop()
  })

  const run = async (env: Record<string, string>): Promise<void> => {
    const dir = tempDataDir()
    const first = await startProcess(mock, dir, env)
    procs.push(first.p)
    const statuses = await burst(first.url, BURST)
    expect(statuses.filter((s) => s === 200)).toHaveLength(2 * BURST)
    // Every answer is complete at the client: its record must be durable now.
    await kill9(first.p)

    const second = await startProcess(mock, dir, env)
    procs.push(second.p)
    // The replay is written right after start; poll until the ledger shows it (bounded).
    const want = 2 * BURST
    const end = Date.now() + 20_000
    let got = await usageTotals(second.url)
    while (got.requests < want && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      got = await usageTotals(second.url)
    }
    expect(got).toMatchObject({
      requests: want,
      input_tokens: want * USAGE.input,
      cached_input_tokens: want * USAGE.cached,
      output_tokens: want * USAGE.output,
      reasoning_tokens: want * USAGE.reasoning
    })
    expect(got.cost_usd).toBeCloseTo(want * 0.006265, 9)
    // Restarting again replays nothing more.
    await kill9(second.p)
    const third = await startProcess(mock, dir, env)
    procs.push(third.p)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect((await usageTotals(third.url)).requests).toBe(want)
    await kill9(third.p)
  }

  it('embedded store', async () => {
    await run({})
  }, 180_000)

  it('Redis', async () => {
    redis = await startRedis()
    await run({ REDIS_URL: redis.url })
  }, 180_000)
})
