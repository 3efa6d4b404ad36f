import { mkdtempSync, openSync, writeFileSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, PROXY_CORE, spawnPinned, waitHttp, type Child } from './processes.js'

/**
 * The real gateway as a child process (`node dist/src/main.js`), configured the way a
 * user runs it with every feature on: a static key with rpm/tpm/concurrency/budget
 * limits (set far above what the benchmark sends, so limits are checked on every
 * request but never refuse one), metering with the default price table, metrics, and
 * one pino line per request at LOG_LEVEL=info written to a file (or /dev/null), so
 * the log line's cost is counted. The response cache is left at its default (off unless
 * a request opts in): a benchmark of identical requests would otherwise measure hits.
 */

export const BENCH_KEY = 'sk-bench-0123456789abcdefghijklmnopqrstuvwxyzABCD'
const UPSTREAM_KEY = 'sk-upstream-bench-0123456789abcdef'

export interface GatewayOptions {
  /** Origin base URL (without /v1). */
  origin: string
  /** Set for the Redis variant. */
  redisUrl?: string
  /** Where the log lines go (default /dev/null). */
  logFile?: string
  /** Upstream keep-alive connections (UPSTREAM_CONNECTIONS). */
  connections?: number
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeArgs?: string[]
  /** Working directory (where --cpu-prof writes). */
  cwd?: string
  /** Another build's `dist/src/main.js` (A/B runs of a change); default: this build's. */
  main?: string
  /** More keys for the config file, beside the bench key. */
  keys?: unknown[]
  /** More environment (e.g. a preload through NODE_OPTIONS). */
  env?: NodeJS.ProcessEnv
}

export interface BenchGateway extends Child {
  readonly url: string
  readonly dataDir: string
}

/** Starts the gateway on the proxy core and waits for /healthz. */
export async function startGateway (name: string, opts: GatewayOptions): Promise<BenchGateway> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'comet-bench-gw-'))
  const configFile = join(dataDir, 'bench-config.json')
  writeFileSync(configFile, JSON.stringify({
    keys: [{ name: 'bench', key: BENCH_KEY, rpm: 1_000_000_000, tpm: 1_000_000_000_000, max_concurrency: 100_000, budget_usd: 1_000_000_000, budget_period: 'month' }, ...(opts.keys ?? [])]
  }))
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    HOST: '127.0.0.1',
    UPSTREAM_BASE_URL: `${opts.origin}/v1`,
    UPSTREAM_API_KEY: UPSTREAM_KEY,
    GATEWAY_CONFIG: configFile,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    DRAIN_TIMEOUT_MS: '1000',
    UPSTREAM_CONNECTIONS: String(opts.connections ?? 256),
    NODE_ENV: 'production',
    ...opts.env
  }
  if (opts.redisUrl !== undefined) env.REDIS_URL = opts.redisUrl
  const main = opts.main ?? new URL('../src/main.js', import.meta.url).pathname
  const out = openSync(opts.logFile ?? '/dev/null', 'a')
  const child = spawnPinned(name, PROXY_CORE, process.execPath, [...(opts.nodeArgs ?? []), main], { env, stdio: ['ignore', out, 'inherit'], cwd: opts.cwd })
  closeSync(out)
  const url = `http://127.0.0.1:${port}`
  await waitHttp(`${url}/healthz`, child)
  return { ...child, url, dataDir }
}
