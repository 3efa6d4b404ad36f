import { readFileSync, writeFileSync } from 'node:fs'
import { expect } from 'vitest'
import { join } from 'node:path'
import { tempDataDir } from './gateway.js'
import { ensureBuilt, spawnNode, type Spawned } from './process.js'
import { freePort } from './redis.js'

/**
 * What an attack test needs: a gateway in its own process (so its RSS and event loop are
 * its own), a hostile upstream in another, and a bystander who measures how long a
 * normal request takes before, during and after the attack.
 */

export const ATTACK_KEY = 'sk-attack-0123456789abcdefghijklmnopqrstuv'
export const ATTACK_ADMIN = 'admin-attack-0123456789abcdefghijk'

export interface GatewayProcess {
  readonly p: Spawned
  readonly url: string
  readonly dataDir: string
  /** Resident set size of the gateway process now, bytes. */
  rss (): number
  alive (): boolean
  kill (): Promise<void>
}

export interface GatewayProcessOptions {
  readonly upstreamBaseUrl: string
  readonly env?: Record<string, string>
  /** The config file's `keys` (default: one key ATTACK_KEY without limits). */
  readonly keys?: unknown[]
  readonly dataDir?: string
}

/** Spawns dist/src/main.js and waits until /healthz answers (bounded). */
export async function startGatewayProcess (opts: GatewayProcessOptions): Promise<GatewayProcess> {
  ensureBuilt()
  const port = await freePort()
  const dataDir = opts.dataDir ?? tempDataDir()
  const config = join(dataDir, 'config.json')
  writeFileSync(config, JSON.stringify({ keys: opts.keys ?? [{ name: 'attack', key: ATTACK_KEY }] }))
  const p = spawnNode('dist/src/main.js', {
    PORT: String(port),
    HOST: '127.0.0.1',
    UPSTREAM_BASE_URL: opts.upstreamBaseUrl,
    UPSTREAM_API_KEY: 'sk-upstream-attack-secret',
    ADMIN_KEY: ATTACK_ADMIN,
    DATA_DIR: dataDir,
    GATEWAY_CONFIG: config,
    LOG_LEVEL: 'warn',
    ...opts.env
  })
  // LOG_LEVEL warn hides the listening line: poll /healthz.
  const url = `http://127.0.0.1:${port}`
  const end = Date.now() + 30_000
  for (;;) {
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false)
    if (ok) break
    if (Date.now() > end || p.proc.exitCode !== null) throw new Error('gateway did not start:\n' + p.stderr.join(''))
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    p,
    url,
    dataDir,
    rss: () => rssOf(p.proc.pid!),
    alive: () => p.proc.exitCode === null && p.proc.signalCode === null,
    kill: async () => {
      if (p.proc.exitCode !== null || p.proc.signalCode !== null) return
      p.proc.kill('SIGKILL')
      await p.exited
    }
  }
}

/** VmRSS of a process, bytes (Linux). */
export function rssOf (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

export interface HostileProcess {
  readonly url: string
  readonly baseUrl: string
  kill (): Promise<void>
}

/** The hostile upstream (src/mock/hostile.ts) in its own process. */
export async function startHostileProcess (): Promise<HostileProcess> {
  ensureBuilt()
  const p = spawnNode('dist/scripts/hostile-upstream.js', {})
  const line = await p.waitForOutput(/listening (\S+)/)
  const url = line.slice('listening '.length)
  return {
    url,
    baseUrl: url + '/v1',
    kill: async () => {
      if (p.proc.exitCode !== null || p.proc.signalCode !== null) return
      p.proc.kill('SIGKILL')
      await p.exited
    }
  }
}

/** One normal non-stream chat request of ATTACK_KEY; its duration in ms (throws on a non-200). */
export async function normalRequest (url: string, key = ATTACK_KEY): Promise<number> {
  const t = performance.now()
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(30_000)
  })
  await res.arrayBuffer()
  if (res.status !== 200) throw new Error(`bystander got ${res.status}`)
  return performance.now() - t
}

/** The median of `n` sequential normal requests, ms: the bystander's normal time. */
export async function baseline (url: string, n = 20): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < n; i++) times.push(await normalRequest(url))
  times.sort((a, b) => a - b)
  return times[times.length >> 1]!
}

export interface Bystander {
  /** Stops and returns every duration measured, ms. */
  stop (): Promise<number[]>
}

/**
 * A client who keeps sending normal requests (one at a time, `gapMs` apart, at most
 * `max`) while an attack runs.
 */
export function bystander (url: string, gapMs = 50, max = 2_000): Bystander {
  const times: number[] = []
  const state = { running: true }
  const loop = (async () => {
    while (state.running && times.length < max) {
      times.push(await normalRequest(url))
      await new Promise((resolve) => setTimeout(resolve, gapMs))
    }
  })()
  return {
    stop: async () => {
      state.running = false
      await loop
      return times
    }
  }
}

/** Polls until the gateway's RSS is within `bytes` of `start` (bounded); returns the last reading. */
export async function settleRss (g: GatewayProcess, start: number, bytes: number, timeoutMs = 20_000): Promise<number> {
  const end = Date.now() + timeoutMs
  let now = g.rss()
  while (now - start > bytes && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    now = g.rss()
  }
  return now
}

/**
 * How much slower than its baseline a bystander's median may be during an attack. The
 * gateway's own figure (event-loop delay under each attack) is measured by
 * `npm run bench:attack` on a quiet machine; here the attacker, the bystander and other
 * test files share two cores with the gateway, so the bound is looser than 100 ms to
 * keep the suite free of flakes, yet still far below what a stalled gateway shows
 * (seconds).
 */
export const BYSTANDER_SLACK_MS = 300

/** What a bystander saw while the gateway was attacked: every request under 2 s, the median near its baseline. */
export function expectBystanderUnharmed (times: readonly number[], baselineMs: number, slackMs = BYSTANDER_SLACK_MS): void {
  expect(times.length).toBeGreaterThan(0)
  const sorted = [...times].sort((a, b) => a - b)
  expect(sorted.at(-1)!).toBeLessThan(2_000)
  expect(sorted[sorted.length >> 1]!).toBeLessThan(baselineMs + slackMs)
}
