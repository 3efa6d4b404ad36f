import { loadConfig, GatewayConfigError } from './config/load.js'
import { createLogger } from './log.js'
import { createDeps } from './deps.js'
import { buildApp } from './app.js'
import { installShutdown } from './shutdown.js'

/**
 * The gateway process: config → deps → app → listen, and signals. The only module with
 * side effects at start.
 */
export async function serve (env: NodeJS.ProcessEnv = process.env, opts: { demoKey?: string } = {}): Promise<void> {
  let config
  try {
    config = loadConfig(env, opts.demoKey !== undefined ? { keys: [{ name: 'demo', key: opts.demoKey }] } : {})
  } catch (err) {
    if (err instanceof GatewayConfigError) {
      process.stderr.write(`comet-gateway: invalid configuration: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  const log = createLogger(config.LOG_LEVEL)
  const app = await buildApp(config, await createDeps(config, log))
  installShutdown(app, config.DRAIN_TIMEOUT_MS, log)
  const address = await app.listen({ port: config.PORT, host: config.HOST })
  log.info({ address, upstream: config.UPSTREAM_BASE_URL, store: config.REDIS_CLUSTER_NODES ? 'redis-cluster' : config.REDIS_URL ? 'redis' : 'embedded' }, 'comet-gateway listening')
  if (config.upstreams.length === 0 && config.UPSTREAM_API_KEY === undefined) log.warn('UPSTREAM_API_KEY is not set: relayed requests will answer 503 until it is')
  if (config.ADMIN_KEY === undefined && opts.demoKey === undefined) log.warn('ADMIN_KEY is not set: the admin API and the CLI are off, so no key can be created; restart with ADMIN_KEY set (openssl rand -hex 24)')
}

const entry = process.argv[1] ?? ''
if (entry.endsWith('/main.js') && !entry.endsWith('/cli/main.js')) {
  serve().catch((err: unknown) => {
    process.stderr.write(`comet-gateway: failed to start: ${(err as Error).message}\n`)
    process.exit(1)
  })
}
