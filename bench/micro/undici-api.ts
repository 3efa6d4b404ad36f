import { Pool } from 'undici'
import type { Readable } from 'node:stream'
import { startOrigin } from '../origin.js'
import { PROXY_CORE, pinSelf } from '../processes.js'

/**
 * What the upstream call itself costs the gateway's process, by undici API, for one
 * non-stream chat completion from the mock (in its own process): CPU µs per request of
 * this process (process.cpuUsage), 32 requests in flight.
 * - `request()` + `for await` on the body: the relay before this benchmark;
 * - `request()` + 'data'/'end' events: the relay's readAll now;
 * - `dispatch()` with a handler: no body stream, no promise per request.
 *
 *   node dist/bench/micro/undici-api.js [requests]
 */

const BODY = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'Say hello.' }] })
const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer sk-upstream', 'accept-encoding': 'identity', 'x-request-id': 'req_1' }

type OneRequest = (pool: Pool) => Promise<number>

const viaForAwait: OneRequest = async (pool) => {
  const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: HEADERS, body: BODY, signal: new AbortController().signal })
  const chunks: Buffer[] = []
  for await (const c of res.body) chunks.push(c as Buffer)
  return Buffer.concat(chunks).length
}

const viaEvents: OneRequest = async (pool) => {
  const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: HEADERS, body: BODY, signal: new AbortController().signal })
  const body = res.body as unknown as Readable
  return await new Promise<number>((resolve) => {
    const chunks: Buffer[] = []
    body.on('data', (c: Buffer) => chunks.push(c))
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.length : Buffer.concat(chunks).length))
  })
}

const viaDispatch: OneRequest = (pool) => new Promise((resolve, reject) => {
  const chunks: Buffer[] = []
  pool.dispatch({ method: 'POST', path: '/v1/chat/completions', headers: HEADERS, body: BODY }, {
    onRequestStart () {},
    onResponseStart () {},
    onResponseData (_c, chunk: Buffer) { chunks.push(chunk) },
    onResponseEnd () { resolve(chunks.length === 1 ? chunks[0]!.length : Buffer.concat(chunks).length) },
    onResponseError (_c, err) { reject(err) }
  })
})

async function cpuPerRequest (pool: Pool, one: OneRequest, n: number): Promise<number> {
  const before = process.cpuUsage()
  let next = 0
  const worker = async (): Promise<void> => { while (next++ < n) await one(pool) }
  await Promise.all(Array.from({ length: 32 }, worker))
  const d = process.cpuUsage(before)
  return (d.user + d.system) / n
}

async function main (): Promise<void> {
  pinSelf(PROXY_CORE) // this process plays the gateway: the proxy core
  const n = Number(process.argv[2] ?? 20_000)
  const origin = await startOrigin({ chunks: 20 })
  const pool = new Pool(origin.url, { connections: 32, pipelining: 1 })
  const cases: Array<[string, OneRequest]> = [['request() + for await (before)', viaForAwait], ['request() + data events (now)', viaEvents], ['dispatch() + handler', viaDispatch]]
  const results = new Map<string, number[]>()
  try {
    for (const [, one] of cases) await cpuPerRequest(pool, one, 2000) // warm-up
    for (let round = 0; round < 3; round++) {
      for (const [name, one] of cases) results.set(name, [...(results.get(name) ?? []), await cpuPerRequest(pool, one, n)])
    }
  } finally {
    await pool.close()
    await origin.stop()
  }
  const rows = ['#### The upstream call: CPU of the calling process per non-stream request (median of 3 rounds)', '', '| API | CPU per request | × first |', '|---|---|---|']
  let base: number | undefined
  for (const [name] of cases) {
    const v = results.get(name)!.sort((a, b) => a - b)[1]!
    base ??= v
    rows.push(`| ${name} | ${v.toFixed(1)} µs | ${(v / base).toFixed(2)} |`)
  }
  process.stdout.write(rows.join('\n') + '\n')
}

main().then(() => process.exit(0), (err: unknown) => { process.stderr.write(String(err) + '\n'); process.exit(1) })
