import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, LOAD_CORE, spawnPinned, type Child } from './processes.js'

export interface BenchRedis extends Child {
  readonly url: string
}

/**
 * A private redis-server on a free port (never the shared 6379), no persistence, pinned
 * to the load core: a Redis of its own, as it would be on another host. Its CPU is
 * reported apart from the gateway's.
 */
export async function startBenchRedis (): Promise<BenchRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'comet-bench-redis-'))
  const child = spawnPinned('redis', LOAD_CORE, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir])
  const end = Date.now() + 10_000
  for (;;) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'PONG') break
    } catch {}
    if (Date.now() > end || child.proc.exitCode !== null) throw new Error(`redis-server on ${port} did not start`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { ...child, url: `redis://127.0.0.1:${port}` }
}
