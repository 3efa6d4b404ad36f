import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A free TCP port on 127.0.0.1 (asked from the OS). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export interface PrivateRedis {
  port: number
  url: string
  process: ChildProcess
  /** Stops the server (SIGKILL-free: SIGTERM, then waits). */
  stop (): Promise<void>
  /** Starts it again on the same port (after stop). */
  restart (): Promise<void>
}

async function waitPing (port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'PONG') return
    } catch {}
    if (Date.now() > end) throw new Error(`redis on ${port} did not start`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * A private redis-server on a free port (never the shared 6379), in a temp dir, with no
 * persistence. `extraArgs` e.g. `['--cluster-enabled', 'yes']`.
 */
export async function startRedis (extraArgs: string[] = []): Promise<PrivateRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'comet-redis-'))
  let proc: ChildProcess
  const start = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs], { stdio: 'ignore' })
    await waitPing(port)
  }
  await start()
  const handle: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get process () { return proc },
    stop: async () => {
      if (proc.exitCode !== null) return
      await new Promise<void>((resolve) => { proc.once('exit', () => resolve()); proc.kill('SIGTERM') })
    },
    restart: start
  }
  return handle
}

export interface PrivateCluster {
  nodes: PrivateRedis[]
  /** `host:port,host:port,…` for REDIS_CLUSTER_NODES. */
  nodesEnv: string
  stop (): Promise<void>
}

/** A 3-master Redis Cluster from private redis-server processes. */
export async function startRedisCluster (): Promise<PrivateCluster> {
  const nodes: PrivateRedis[] = []
  for (let i = 0; i < 3; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'comet-cluster-'))
    nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000']))
  }
  const addrs = nodes.map((n) => `127.0.0.1:${n.port}`)
  execFileSync('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' })
  // Wait until every node agrees the cluster is ok.
  const end = Date.now() + 20_000
  for (;;) {
    const ok = nodes.every((n) => {
      try {
        return execFileSync('redis-cli', ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' }).includes('cluster_state:ok')
      } catch { return false }
    })
    if (ok) break
    if (Date.now() > end) throw new Error('redis cluster did not become ok')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    nodes,
    nodesEnv: addrs.join(','),
    stop: async () => { await Promise.all(nodes.map((n) => n.stop())) }
  }
}

/** Removes a temp dir quietly. */
export function removeDir (dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}
