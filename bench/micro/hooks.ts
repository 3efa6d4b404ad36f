import Fastify, { type FastifyInstance } from 'fastify'

/**
 * Two Fastify hooks (onRequest, onResponse) and the route handler written as async
 * functions against callbacks / a plain function, measured through `inject()` (the same
 * requests; the difference is the promises and microtasks per request).
 */
async function app (style: 'async' | 'callback'): Promise<FastifyInstance> {
  const a = Fastify()
  let n = 0
  a.decorate('seen', () => n)
  if (style === 'async') {
    a.addHook('onRequest', async () => { n++ })
    a.addHook('onResponse', async () => { n-- })
    a.get('/', async (_req, reply) => { reply.send('ok') })
  } else {
    a.addHook('onRequest', (_req, _reply, done) => { n++; done() })
    a.addHook('onResponse', (_req, _reply, done) => { n--; done() })
    a.get('/', (_req, reply) => { reply.send('ok') })
  }
  await a.ready()
  return a
}

async function perRequest (a: FastifyInstance, n: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await a.inject({ method: 'GET', url: '/' })
  return Number(process.hrtime.bigint() - t0) / n
}

export async function hooksBench (timeMs = 400): Promise<string> {
  const n = Math.max(2000, timeMs * 20)
  const asyncApp = await app('async')
  const cbApp = await app('callback')
  for (let i = 0; i < 3; i++) { await perRequest(asyncApp, n / 4); await perRequest(cbApp, n / 4) }
  const a: number[] = []
  const c: number[] = []
  for (let i = 0; i < 5; i++) { a.push(await perRequest(asyncApp, n)); c.push(await perRequest(cbApp, n)) }
  const median = (xs: number[]): number => xs.sort((x, y) => x - y)[xs.length >> 1]!
  const ma = median(a)
  const mc = median(c)
  await asyncApp.close()
  await cbApp.close()
  return [
    '#### Fastify hooks and handler: async functions vs callbacks (per inject() request)',
    '',
    '| case | per op | × first |', '|---|---|---|',
    `| async hooks + async handler | ${(ma / 1000).toFixed(2)} µs | 1.00 |`,
    `| callback hooks + plain handler | ${(mc / 1000).toFixed(2)} µs | ${(mc / ma).toFixed(2)} |`
  ].join('\n')
}
