import type { FastifyInstance } from 'fastify'

/** `/healthz`: the process is up. `/readyz`: every store answers (else 503). */
export async function healthPlugin (app: FastifyInstance, opts: { checks: ReadonlyArray<{ name: string, ready: () => Promise<boolean> }>, draining: () => boolean }): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const results = await Promise.all(opts.checks.map(async (c) => [c.name, await c.ready().catch(() => false)] as const))
    const failing = results.filter(([, ok]) => !ok).map(([name]) => name)
    const ready = failing.length === 0 && !opts.draining()
    reply.code(ready ? 200 : 503)
    return { status: ready ? 'ready' : 'not_ready', failing, draining: opts.draining() }
  })
}
