import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'

/**
 * SIGTERM/SIGINT: stop accepting, let open requests and streams finish for up to
 * `drainMs`, then cut what is left, close the features (flushing buffered spend) and exit 0.
 */
export function installShutdown (app: FastifyInstance, drainMs: number, log: Logger): void {
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    app.draining = true
    log.info({ signal, drainMs }, 'draining')
    const force = setTimeout(() => {
      log.warn('drain timeout: closing open connections')
      app.server.closeAllConnections()
    }, drainMs)
    force.unref()
    app.close().then(() => {
      clearTimeout(force)
      log.info('stopped')
      log.flush?.()
      setImmediate(() => process.exit(0))
    }, (err: unknown) => {
      log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}
