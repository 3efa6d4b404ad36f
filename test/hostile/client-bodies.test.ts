import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { loopProbeEnv, loopReport, type LoopReport } from '../../bench/loop-report.js'
import { tempDataDir } from '../helpers/gateway.js'
import { ROOT } from '../helpers/process.js'
import { ATTACK_KEY, baseline, bystander, expectBystanderUnharmed, startGatewayProcess, startHostileProcess, type GatewayProcess, type HostileProcess } from '../helpers/attack.js'

/**
 * What a key holder can put in a body or a model name must not crash, stall or bloat the
 * gateway: the gateway runs in its own process (its RSS is read from /proc), the upstream
 * in another, and a bystander measures a normal request while each attack runs.
 */

const MINI_KEY = 'sk-attack-mini-0123456789abcdefghijklmnopq'
const MiB = 1024 * 1024
const MODEL = 'gpt-5.2-chat-latest'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, text: string }

/** undici's request, not fetch: fetch copies a Buffer body, and the test process should stay light. */
async function post (g: GatewayProcess, path: string, body: string | Buffer, opts: { key?: string, headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await request(`${g.url}/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${opts.key ?? ATTACK_KEY}`, 'content-type': 'application/json', ...opts.headers },
    body,
    headersTimeout: 60_000,
    bodyTimeout: 60_000
  })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

function errorOf (a: Answer): { message: string, type: string, code: string | null } {
  return (JSON.parse(a.text) as { error: { message: string, type: string, code: string | null } }).error
}

/** Runs `attack` while a bystander sends normal requests; the bystander's durations, ms. */
async function underAttack<T> (g: GatewayProcess, attack: () => Promise<T>): Promise<{ result: T, times: number[] }> {
  const b = bystander(g.url)
  try {
    const result = await attack()
    return { result, times: await b.stop() }
  } finally {
    await b.stop().catch(() => [])
  }
}

/** `n` empty arrays in `messages`: 3 bytes and one value each. */
function emptyArrays (n: number, field = 'messages'): Buffer {
  // The fill starts at 0 of its own buffer: `[],[],…[]`.
  return Buffer.concat([Buffer.from(`{"model":"${MODEL}","${field}":[`), Buffer.alloc(n * 3 - 1, '[],'), Buffer.from(']}')])
}

/** `depth` nested arrays (or objects `{"a":…}`) as one JSON value. */
function nested (depth: number, kind: 'array' | 'object' = 'array'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1)
}

/** A chat stream body without stream_options, with `extra` spliced in as its last members. */
function streamBody (extra: string): string {
  return `{"model":"${MODEL}","stream":true,"messages":[{"role":"user","content":"hi"}],${extra}}`
}

let up: HostileProcess
beforeAll(async () => { up = await startHostileProcess() })
afterAll(async () => { await up.kill() })

/** What the gateway holds after a full collection (run inside it by the probe): heap and buffers, and its RSS. */
function held (r: LoopReport): number { return r.heapUsed + r.external }
function rssAfterGc (r: LoopReport): number { return r.rss }

/**
 * One of the above, now, or polled until within `bytes` of `start` (bounded): V8 gives memory
 * back at its next full collection, which an idle process may not run for a long time.
 */
async function afterGc (g: GatewayProcess, pick: (r: LoopReport) => number, start?: number, bytes = 0): Promise<number> {
  const end = Date.now() + 20_000
  for (;;) {
    const r = await loopReport(g.p.proc.pid!, join(g.dataDir, 'loop.jsonl'))
    if (r === undefined) throw new Error('the gateway did not report')
    if (start === undefined || pick(r) - start <= bytes || Date.now() > end) return pick(r)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

describe('bodies of millions of values', () => {
  let g: GatewayProcess
  let base: number
  beforeAll(async () => {
    const dataDir = tempDataDir()
    g = await startGatewayProcess({ upstreamBaseUrl: up.baseUrl, dataDir, env: loopProbeEnv(join(dataDir, 'loop.jsonl'), true, join(ROOT, 'dist', 'bench', 'loop-probe.js')) })
    base = await baseline(g.url)
  })
  afterAll(async () => { await g.kill() })

  it('twelve 30 MB bodies of 10 million empty arrays at once are 400 body_too_complex; the process stays small and responsive', { timeout: 180_000 }, async () => {
    const start = await afterGc(g, rssAfterGc)
    const body = emptyArrays(10_000_000)
    expect(body.length).toBeGreaterThan(29_000_000)
    // A socket error is a body turned away unread, its connection closed while the client still wrote.
    const sent = async (): Promise<Answer | undefined> => await post(g, '/chat/completions', body).catch(() => undefined)
    const { result: answers, times } = await underAttack(g, async () => await Promise.all(Array.from({ length: 12 }, sent)))
    // Bodies beyond MAX_PARSING_BYTES in flight may be turned away unread (503); sent again alone, they are refused for what they are.
    const busy = answers.filter((a) => a === undefined || a.status === 503)
    for (const a of busy) if (a !== undefined) expect(errorOf(a).code).toBe('overloaded')
    const again: Answer[] = []
    for (let i = 0; i < Math.min(busy.length, 2); i++) again.push(await post(g, '/chat/completions', body))
    const judged = [...answers.filter((a): a is Answer => a !== undefined && a.status !== 503), ...again]
    expect(judged.length).toBeGreaterThan(0)
    for (const a of judged) {
      expect(a.status).toBe(400)
      expect(errorOf(a)).toMatchObject({ type: 'invalid_request_error', code: 'body_too_complex' })
    }
    expect(g.alive()).toBe(true)
    expectBystanderUnharmed(times, base)
    expect(await afterGc(g, rssAfterGc, start, 50 * MiB) - start).toBeLessThan(50 * MiB)
  })

  it('the same arrays in a top-level field, on another JSON route, or sent as text/plain are refused alike', { timeout: 120_000 }, async () => {
    const cases: Array<{ path: string, body: Buffer, type?: string }> = [
      { path: '/chat/completions', body: emptyArrays(10_000_000, 'extra') },
      { path: '/responses', body: emptyArrays(10_000_000, 'input') },
      { path: '/embeddings', body: emptyArrays(2_000_000, 'input'), type: 'text/plain' }
    ]
    for (const c of cases) {
      const a = await post(g, c.path, c.body, { headers: c.type === undefined ? {} : { 'content-type': c.type } })
      expect(a.status).toBe(400)
      expect(errorOf(a).code).toBe('body_too_complex')
    }
    expect(g.alive()).toBe(true)
  })

  it('900,000 empty arrays, under the bound, are served', { timeout: 60_000 }, async () => {
    const a = await post(g, '/chat/completions', emptyArrays(900_000))
    expect(a.status).toBe(200)
    expect(g.alive()).toBe(true)
  })

  it('valid bodies with one 30 MB string are relayed (or 503 past the parsing budget), and the gateway keeps none of them', { timeout: 120_000 }, async () => {
    const before = await afterGc(g, held)
    const body = `{"model":"${MODEL}","messages":[{"role":"user","content":"${'a'.repeat(30 * 1000 * 1000)}"}]}`
    const { result: answers, times } = await underAttack(g, async () => await Promise.all(Array.from({ length: 3 }, async () => await post(g, '/chat/completions', body))))
    // Three 30 MB bodies pass MAX_PARSING_BYTES (64 MiB): what does not fit is 503, the rest relayed.
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(1)
    for (const a of answers) {
      if (a.status === 503) { expect(errorOf(a).code).toBe('overloaded'); continue }
      expect(a.status).toBe(200)
      expect((JSON.parse(a.text) as { object: string }).object).toBe('chat.completion')
    }
    expect(g.alive()).toBe(true)
    // Parsing 30 MB of JSON is work the gateway must do (hundreds of ms on a busy machine): the bystander is served, its time not judged.
    expect(times.length).toBeGreaterThan(0)
    // RSS waits for V8's next full collection, which an idle process may not run for long.
    expect(await afterGc(g, held, before, 50 * MiB) - before).toBeLessThan(50 * MiB)
  })
})

describe('deep nesting with the cache on and the stream_options rewrite', () => {
  let g: GatewayProcess
  beforeAll(async () => {
    g = await startGatewayProcess({ upstreamBaseUrl: up.baseUrl, env: { CACHE_TTL_SECONDS: '60' } })
  })
  afterAll(async () => { await g.kill() })

  it('a body nested 100,000 deep is 400 body_too_complex wherever the nesting is, never 500', async () => {
    const deep = nested(100_000)
    const bodies: Array<[string, string]> = [
      ['/chat/completions', streamBody(`"extra":${deep}`)],
      ['/chat/completions', streamBody(`"metadata":${nested(100_000, 'object')}`)],
      ['/chat/completions', `{"model":"${MODEL}","stream":true,"messages":${deep}}`],
      ['/chat/completions', `{"model":"${MODEL}","messages":[{"role":"user","content":${deep}}]}`],
      ['/responses', `{"model":"${MODEL}","stream":true,"input":${deep}}`],
      ['/embeddings', `{"model":"text-embedding-3-small","input":${deep}}`]
    ]
    for (const [path, body] of bodies) {
      const a = await post(g, path, body)
      expect(a.status).toBe(400)
      expect(errorOf(a)).toMatchObject({ type: 'invalid_request_error', code: 'body_too_complex' })
    }
    expect(g.alive()).toBe(true)
  })

  it('a body nested 250 deep is served, streamed with usage added, and cached', async () => {
    for (const kind of ['array', 'object'] as const) {
      // The top-level object and `extra` are two of the 250 levels.
      const body = streamBody(`"extra":${nested(248, kind)}`)
      const first = await post(g, '/chat/completions', body)
      expect(first.status).toBe(200)
      expect(first.headers['content-type']).toMatch(/^text\/event-stream/)
      expect(first.text).toContain('data: [DONE]')
      expect(first.text).toContain('"usage"')
      const again = await post(g, '/chat/completions', body)
      expect(again.status).toBe(200)
      expect(again.headers['x-gateway-cache']).toBe('HIT')
      expect(again.text).toBe(first.text)
    }
    const inMessages = `{"model":"${MODEL}","messages":[{"role":"user","content":[{"type":"text","text":"hi","deep":${nested(246)}}]}]}`
    const plain = await post(g, '/chat/completions', inMessages)
    expect(plain.status).toBe(200)
    expect((await post(g, '/chat/completions', inMessages)).headers['x-gateway-cache']).toBe('HIT')
    expect(g.alive()).toBe(true)
  })
})

describe('long model names against wildcard allow-lists', () => {
  let g: GatewayProcess
  let base: number
  beforeAll(async () => {
    g = await startGatewayProcess({
      upstreamBaseUrl: up.baseUrl,
      keys: [
        { name: 'attack', key: ATTACK_KEY },
        { name: 'minis', key: MINI_KEY, models: ['*-mini*', 'gpt-*-nano*', '*o*-*mini*-*'] }
      ]
    })
    base = await baseline(g.url)
  })
  afterAll(async () => { await g.kill() })

  it('a 156 KB model name is refused quickly and the bystander does not notice', { timeout: 120_000 }, async () => {
    // Many near-matches of every pattern: what makes a backtracking matcher quadratic.
    const names = ['-mini'.repeat(32_000), 'gpt-' + '-nan'.repeat(39_000), 'o-'.repeat(78_000) + 'x', 'a'.repeat(156_000)]
    const { result: rounds, times } = await underAttack(g, async () => {
      const all: Answer[] = []
      // One at a time: each request must be cheap (it was a 2.9 s stall), not a load test.
      for (let round = 0; round < 10; round++) {
        for (const model of names) all.push(await post(g, '/chat/completions', JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }), { key: MINI_KEY }))
      }
      return all
    })
    for (const a of rounds) {
      expect([400, 403]).toContain(a.status)
      expect(errorOf(a).type).toBe('invalid_request_error')
      // The refusal quotes the name, not all 156 KB of it.
      expect(a.text.length).toBeLessThan(4096)
    }
    expectBystanderUnharmed(times, base)
    expect(g.alive()).toBe(true)
  })

  it('names the patterns allow still pass, and a 156 KB name from a key without a list is relayed', async () => {
    const ok = await post(g, '/chat/completions', JSON.stringify({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] }), { key: MINI_KEY })
    expect(ok.status).toBe(200)
    const refused = await post(g, '/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), { key: MINI_KEY })
    expect(refused.status).toBe(403)
    expect(errorOf(refused).code).toBe('model_not_allowed')
    const long = await post(g, '/chat/completions', JSON.stringify({ model: '-mini'.repeat(32_000), messages: [{ role: 'user', content: 'hi' }] }))
    expect([200, 400]).toContain(long.status)
    expect(g.alive()).toBe(true)
  })
})
