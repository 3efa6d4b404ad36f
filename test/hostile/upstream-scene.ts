import { request, type IncomingHttpHeaders } from 'node:http'
import { expect } from 'vitest'
import { ATTACK_ADMIN, ATTACK_KEY, baseline, bystander, expectBystanderUnharmed, normalRequest, settleRss, startGatewayProcess, startHostileProcess, type GatewayProcess, type HostileProcess } from '../helpers/attack.js'
import { Scrape } from '../metrics/prom-text.js'
import type { Attack } from '../../src/mock/hostile.js'
import { DEFAULT_USAGE } from '../../src/mock/upstream.js'

/**
 * One hostile-upstream scene: a spawned gateway in front of the hostile upstream (both in
 * processes of their own), the bystander's normal time measured first, then attacks
 * while the bystander keeps sending normal requests.
 */
export interface Scene {
  readonly g: GatewayProcess
  readonly up: HostileProcess
  /** The bystander's median time before any attack, ms. */
  readonly base: number
  close (): Promise<void>
}

export async function startScene (env: Record<string, string> = {}): Promise<Scene> {
  const up = await startHostileProcess()
  const g = await startGatewayProcess({ upstreamBaseUrl: up.baseUrl, env })
  const base = await baseline(g.url, 20)
  return {
    g,
    up,
    base,
    close: async () => { await Promise.all([g.kill(), up.kill()]) }
  }
}

/** Runs `attack` while a bystander sends normal requests; returns its result and the bystander's times. */
export async function underAttack<T> (s: Scene, attack: () => Promise<T>): Promise<{ result: T, times: number[] }> {
  const b = bystander(s.g.url, 50, 400)
  try {
    return { result: await attack(), times: await b.stop() }
  } finally {
    await b.stop()
  }
}

/**
 * The gateway came through: alive, every bystander request answered in under 2 s and
 * their median near the baseline (BYSTANDER_SLACK_MS), and its memory back within 50 MiB of what
 * it was before the attack, plus `garbage`: what the attack may leave for the collector,
 * whose next run is V8's choice (a buffered answer of MAX_BUFFERED_BYTES is freed then).
 */
export async function expectUnharmed (s: Scene, times: readonly number[], rssBefore: number, garbage = 0): Promise<void> {
  expect(s.g.alive()).toBe(true)
  expectBystanderUnharmed(times, s.base)
  // Freed memory goes back when the collector runs: normal traffic goes on meanwhile, as it would.
  const bound = 50 * 1024 * 1024 + garbage
  const end = Date.now() + 30_000
  let rss = s.g.rss()
  while (rss - rssBefore >= bound && Date.now() < end) {
    for (let i = 0; i < 5; i++) await normalRequest(s.g.url)
    rss = await settleRss(s.g, rssBefore, bound, 1000)
  }
  expect(rss - rssBefore).toBeLessThan(bound)
  expect(s.g.alive()).toBe(true)
}

export interface AttackAnswer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  /** Body bytes received (never held whole). */
  readonly bytes: number
  /** Milliseconds from the request to the first body byte (-1: none). */
  readonly firstByteMs: number
  /** The first 64 KiB and the last 4 KiB of the body. */
  readonly head: Buffer
  readonly tail: Buffer
  /** The body ended as HTTP says it should (chunked terminator or content-length reached). */
  readonly complete: boolean
}

/**
 * The attacking client reads at most this much per pause (about 50 MiB/s): on a shared
 * 2-core machine an unpaced transfer starves every process of CPU, and the bystander
 * would measure the scheduler rather than the gateway. The gateway must still hold the
 * upstream back (backpressure), which is part of what is tested.
 */
const PACE_BYTES = 512 * 1024
const PACE_MS = 10

/**
 * A chat request of ATTACK_KEY carrying the attack's headers, read to its end with
 * node:http: cheap per chunk, so the test process's own event loop (which the bystander
 * shares) is not what is measured, and bodies come as sent (no decompression).
 */
export async function attack (s: Scene, name: Attack, opts: { mb?: number, stream?: boolean, body?: Record<string, unknown> } = {}): Promise<AttackAnswer> {
  const body = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }], ...(opts.stream === true ? { stream: true } : {}), ...opts.body })
  const t = performance.now()
  return await new Promise((resolve, reject) => {
    const req = request(`${s.g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ATTACK_KEY}`, 'content-type': 'application/json', 'x-attack': name, 'x-attack-mb': String(opts.mb ?? 16) },
      timeout: 120_000
    }, (res) => {
      let bytes = 0
      let firstByteMs = -1
      const head: Buffer[] = []
      let headBytes = 0
      let tail: Buffer = Buffer.alloc(0)
      let sincePause = 0
      res.on('data', (c: Buffer) => {
        if (firstByteMs < 0) firstByteMs = performance.now() - t
        bytes += c.length
        sincePause += c.length
        if (sincePause >= PACE_BYTES) {
          sincePause = 0
          res.pause()
          setTimeout(() => res.resume(), PACE_MS)
        }
        if (headBytes < 65536) {
          head.push(c.subarray(0, 65536 - headBytes))
          headBytes += Math.min(c.length, 65536 - headBytes)
        }
        tail = c.length >= 4096 ? c.subarray(c.length - 4096) : Buffer.concat([tail, c]).subarray(-4096)
      })
      res.on('error', () => {})
      res.on('close', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, firstByteMs, head: Buffer.concat(head), tail, complete: res.complete })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

export interface Metered {
  /** Requests of ATTACK_KEY in the ledger, and their tokens. */
  requests: number
  inputTokens: number
  outputTokens: number
  /** `gateway_estimated_usage_total` by reason. */
  estimated: Record<string, number>
}

/** What the gateway metered so far: `GET /admin/usage` totals and the estimate counter. */
export async function metered (s: Scene): Promise<Metered> {
  const res = await fetch(`${s.g.url}/admin/usage?group_by=key`, { headers: { authorization: `Bearer ${ATTACK_ADMIN}` } })
  const rows = (await res.json() as { data: Array<{ key_name: string, requests: number, input_tokens: number, output_tokens: number }> }).data
  const row = rows.find((r) => r.key_name === 'attack')
  const scrape = await Scrape.of(s.g.url, ATTACK_ADMIN)
  const estimated: Record<string, number> = {}
  for (const sample of scrape.select('gateway_estimated_usage_total')) estimated[sample.labels.reason!] = (estimated[sample.labels.reason!] ?? 0) + sample.value
  return { requests: row?.requests ?? 0, inputTokens: row?.input_tokens ?? 0, outputTokens: row?.output_tokens ?? 0, estimated }
}

/**
 * The attack's own share of what was metered between `before` and `after`: the
 * bystanders' requests (each metered exactly, with the mock's usage) taken out.
 */
export function attackShare (before: Metered, after: Metered, bystanders: number): Metered {
  const estimated: Record<string, number> = {}
  for (const [reason, n] of Object.entries(after.estimated)) if (n - (before.estimated[reason] ?? 0) > 0) estimated[reason] = n - (before.estimated[reason] ?? 0)
  return {
    requests: after.requests - before.requests - bystanders,
    inputTokens: after.inputTokens - before.inputTokens - bystanders * DEFAULT_USAGE.input,
    outputTokens: after.outputTokens - before.outputTokens - bystanders * DEFAULT_USAGE.output,
    estimated
  }
}

/** One attack under a bystander's eye: the answer, the bystander's times, and what the attack itself cost. */
export async function runAttack (s: Scene, name: Attack, opts: Parameters<typeof attack>[2] = {}): Promise<{ result: AttackAnswer, times: number[], share: Metered, rssBefore: number }> {
  const before = await metered(s)
  const rssBefore = s.g.rss()
  const { result, times } = await underAttack(s, async () => await attack(s, name, opts))
  return { result, times, share: attackShare(before, await metered(s), times.length), rssBefore }
}
