import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'

/**
 * Stops the app as the README's shutdown section says: stop accepting at once
 * (new requests on open connections get 503), let open requests and streams finish for
 * up to `drainMs`, then cut what is left. Keep-alive connections with no request in
 * flight are closed as soon as nothing is in flight, so an idle client pool cannot hold
 * the process for the whole drain. Features close (flushing buffered spend) after that.
 * @example await drainAndClose(app, 30_000)
 */
export async function drainAndClose (app: FastifyInstance, drainMs: number): Promise<void> {
  app.draining = true
  const closing = app.close()
  const started = Date.now()
  const poll = setInterval(() => {
    if (app.inflight <= 0 || Date.now() - started >= drainMs) {
      if (app.inflight > 0) app.log.warn({ inflight: app.inflight }, 'drain timeout: closing open connections')
      app.server.closeAllConnections()
    }
  }, 25)
  try {
    await closing
  } finally {
    clearInterval(poll)
  }
}

/** SIGTERM/SIGINT → drainAndClose → exit 0. */
export function installShutdown (app: FastifyInstance, drainMs: number, log: Logger): void {
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal, drainMs, inflight: app.inflight }, 'draining')
    drainAndClose(app, drainMs).then(() => {
      log.info('stopped')
      log.flush()
      setTimeout(() => process.exit(0), 50)
    }, (err: unknown) => {
      log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}
