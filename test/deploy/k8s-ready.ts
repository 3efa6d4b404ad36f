import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildCli } from '../cli/cli-run.js'
import { spawnNode } from '../helpers/process.js'
import { freePort } from '../helpers/redis.js'

/** What a gateway pod of the kustomize base runs with, read from the rendered manifests. */
export interface GatewayPod {
  env: Record<string, string>
  secret: Record<string, string>
  configFile: string
  /** The Redis StatefulSet container's args (`redis-server …`). */
  redisArgs: string[]
  readinessPath: string
}

async function status (url: string): Promise<number | undefined> {
  try {
    return (await fetch(url)).status
  } catch { return undefined }
}

async function until (check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}

/**
 * Plays the pod's start on this machine: the gateway process with the pod's environment
 * and Secret (the Redis host mapped to a local port), then the shipped Redis's command.
 * Returns the readiness probe's status before Redis is up (undefined: nothing listens
 * yet) and once it is.
 */
export async function gatewayBecomesReady (pod: GatewayPod): Promise<{ before: number | undefined, after: number | undefined }> {
  buildCli()
  const [redisServer, ...args] = pod.redisArgs
  const redisPort = await freePort()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'comet-pod-'))
  const configPath = join(dir, 'gateway.yaml')
  writeFileSync(configPath, pod.configFile)
  const redisUrl = new URL(pod.secret.REDIS_URL!)
  redisUrl.hostname = '127.0.0.1'
  redisUrl.port = String(redisPort)
  const gateway = spawnNode('dist/src/main.js', {
    ...pod.env,
    ...pod.secret,
    REDIS_URL: redisUrl.toString(),
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    GATEWAY_CONFIG: configPath,
    LOG_LEVEL: 'warn'
  })
  let redis: ChildProcess | undefined
  const probe = `http://127.0.0.1:${port}${pod.readinessPath}`
  try {
    // Without Redis the gateway does not listen yet (or answers 503): not ready.
    await gateway.waitForOutput(/redis unreachable|listening/i, 30_000)
    const before = await status(probe)
    const dirIndex = args.indexOf('--dir')
    if (dirIndex >= 0) args[dirIndex + 1] = dir
    redis = spawn(redisServer!, [...args, '--port', String(redisPort), '--bind', '127.0.0.1'], { stdio: 'ignore' })
    await until(async () => (await status(probe)) === 200, 30_000)
    return { before, after: await status(probe) }
  } finally {
    gateway.proc.kill('SIGKILL')
    redis?.kill('SIGKILL')
  }
}
