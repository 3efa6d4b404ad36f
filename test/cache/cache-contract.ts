import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { chatStreamEvents, responsesStreamEvents, DEFAULT_USAGE, type MockUpstream } from '../../src/mock/upstream.js'
import { ADMIN_KEY, startGateway, TEST_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'

export const OTHER_KEY = 'sk-other-0123456789abcdefghijklmnopqrstuvwxyz'
/** A key used only by the metering test, so its /admin/usage row holds that test's requests alone. */
const SAVER_KEY = 'sk-saver-0123456789abcdefghijklmnopqrstuvwxyz'
/** The mock's default usage at the default price: 400 × 1.40 + 600 × 0.175 + 500 × 11.20 per 1M. */
const HAND_USD = 0.006265
const MODEL = 'gpt-5.2-chat-latest'

/** The store behind the gateways of one run of the suite. */
export interface StoreUnderTest {
  /** Config settings that select the store (none for the embedded one). */
  readonly overrides: Record<string, unknown>
  /** Stops the store, for the outage test (Redis only; it is the suite's last test). */
  readonly stop?: () => Promise<void>
  /** Starts it again after `stop` (single Redis only). */
  readonly restart?: () => Promise<void>
  close (): Promise<void>
}

export interface Answer {
  status: number
  headers: Headers
  body: Buffer
}

/** A raw POST (raw fetch: the bytes exactly as the client receives them). */
export async function post (gw: TestGateway, path: string, body: unknown, headers: Record<string, string> = {}, key = TEST_KEY): Promise<Answer> {
  const res = await fetch(gw.baseURL + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) }
}

/** A chat body that no other test sends. */
export function chatBody (extra: Record<string, unknown> = {}): Record<string, unknown> & { marker: string } {
  const marker = randomUUID()
  return { model: MODEL, messages: [{ role: 'user', content: `hello ${marker}` }], ...extra, marker }
}

/** Upstream calls that carried `marker`. */
export function upstreamCalls (mock: MockUpstream, marker: string): number {
  return mock.requests.filter((r) => r.body.includes(marker)).length
}

function send (b: Record<string, unknown>): Record<string, unknown> {
  const { marker: _m, ...rest } = b
  return rest
}

/**
 * The cache's behaviour, the same for every store: `setup` gives the store (memory,
 * Redis, Redis Cluster); gateways are started on it with a 60 s TTL.
 */
export function cacheContract (label: string, setup: () => Promise<StoreUnderTest>, options: { outage: boolean, instances: boolean }): void {
  describe(`response cache (${label})`, () => {
    let store: StoreUnderTest
    let gw: TestGateway
    let mock: MockUpstream
    const keys = [{ name: 'test', key: TEST_KEY }, { name: 'other', key: OTHER_KEY }, { name: 'saver', key: SAVER_KEY }]

    beforeAll(async () => {
      store = await setup()
      // No gateway retries: the upstream errors scripted below must reach the client (retries: test/upstreams).
      gw = await startGateway({ ...store.overrides, CACHE_TTL_SECONDS: 60, UPSTREAM_RETRIES: 0, keys }, { chunks: 6 })
      mock = gw.mock
    })
    afterAll(async () => {
      await gw?.close()
      await store?.close()
    })

    it('answers an identical JSON request from the cache: HIT, same bytes, upstream called once', async () => {
      const body = chatBody()
      const first = await post(gw, '/chat/completions', send(body))
      const second = await post(gw, '/chat/completions', JSON.stringify(send(body), null, 2))
      expect(first.status).toBe(200)
      expect(first.headers.get('x-gateway-cache')).toBe('MISS')
      expect(second.status).toBe(200)
      expect(second.headers.get('x-gateway-cache')).toBe('HIT')
      expect(Number(second.headers.get('age'))).toBeGreaterThanOrEqual(0)
      expect(second.headers.get('content-type')).toBe(first.headers.get('content-type'))
      expect(second.body.equals(first.body)).toBe(true)
      expect(upstreamCalls(mock, body.marker)).toBe(1)
      // The SDK reads a hit like any answer.
      const sdk = await gw.client().chat.completions.create(send(body) as never)
      expect((sdk as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe('Hello from the mock upstream,')
      expect(upstreamCalls(mock, body.marker)).toBe(1)
    })

    it('replays a chat stream as the identical bytes with the same content type', async () => {
      const body = chatBody({ stream: true })
      const first = await post(gw, '/chat/completions', send(body))
      const second = await post(gw, '/chat/completions', send(body))
      expect(first.headers.get('x-gateway-cache')).toBe('MISS')
      expect(second.headers.get('x-gateway-cache')).toBe('HIT')
      expect(second.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      expect(first.body.toString()).toContain('data: [DONE]')
      expect(second.body.equals(first.body)).toBe(true)
      expect(upstreamCalls(mock, body.marker)).toBe(1)
    })

    it('replays a Responses API stream through the SDK', async () => {
      const input = `hi ${randomUUID()}`
      const read = async (): Promise<string[]> => {
        const types: string[] = []
        const stream = await gw.client().responses.create({ model: MODEL, input, stream: true })
        for await (const ev of stream) types.push(ev.type)
        return types
      }
      const a = await read()
      const b = await read()
      expect(b).toEqual(a)
      expect(b.at(-1)).toBe('response.completed')
      expect(upstreamCalls(mock, input)).toBe(1)
    })

    it('misses on a different body, and on stream vs non-stream', async () => {
      const body = chatBody()
      await post(gw, '/chat/completions', send(body))
      const other = await post(gw, '/chat/completions', { ...send(body), temperature: 0.3 })
      const streamed = await post(gw, '/chat/completions', { ...send(body), stream: true })
      expect(other.headers.get('x-gateway-cache')).toBe('MISS')
      expect(streamed.headers.get('x-gateway-cache')).toBe('MISS')
      expect(upstreamCalls(mock, body.marker)).toBe(3)
    })

    it('goes upstream on cache-control: no-cache or x-gateway-cache: bypass (BYPASS) and refreshes the entry', async () => {
      const body = chatBody()
      await post(gw, '/chat/completions', send(body))
      const fresh = { id: 'chatcmpl-fresh', object: 'chat.completion', created: 1, model: MODEL, choices: [{ index: 0, message: { role: 'assistant', content: 'fresh' }, finish_reason: 'stop' }] }
      mock.once((_req, _body, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(fresh)) })
      const bypass = await post(gw, '/chat/completions', send(body), { 'cache-control': 'no-cache' })
      expect(bypass.headers.get('x-gateway-cache')).toBe('BYPASS')
      expect(JSON.parse(bypass.body.toString()).id).toBe('chatcmpl-fresh')
      expect(upstreamCalls(mock, body.marker)).toBe(2)
      const after = await post(gw, '/chat/completions', send(body))
      expect(after.headers.get('x-gateway-cache')).toBe('HIT')
      expect(JSON.parse(after.body.toString()).id).toBe('chatcmpl-fresh')
      const again = await post(gw, '/chat/completions', send(body), { 'x-gateway-cache': 'bypass' })
      expect(again.headers.get('x-gateway-cache')).toBe('BYPASS')
      expect(upstreamCalls(mock, body.marker)).toBe(3)
    })

    it('keeps key A\'s answers from key B (scope: key)', async () => {
      const body = chatBody()
      await post(gw, '/chat/completions', send(body))
      const b = await post(gw, '/chat/completions', send(body), {}, OTHER_KEY)
      expect(b.headers.get('x-gateway-cache')).toBe('MISS')
      expect(upstreamCalls(mock, body.marker)).toBe(2)
    })

    it('shares answers across keys with CACHE_SCOPE=global; TTL from the key or the request header', async () => {
      const shared = await startGateway({
        ...store.overrides,
        CACHE_SCOPE: 'global',
        CACHE_TTL_SECONDS: 0,
        keys: [{ name: 'test', key: TEST_KEY, cache_ttl_seconds: 60 }, { name: 'other', key: OTHER_KEY }]
      }, {}, mock)
      try {
        const body = chatBody()
        const plain = await post(shared, '/chat/completions', send(body), {}, OTHER_KEY)
        expect(plain.headers.get('x-gateway-cache')).toBeNull() // caching off for this key
        const a = await post(shared, '/chat/completions', send(body))
        expect(a.headers.get('x-gateway-cache')).toBe('MISS')
        const b = await post(shared, '/chat/completions', send(body), { 'x-gateway-cache-ttl': '30' }, OTHER_KEY)
        expect(b.headers.get('x-gateway-cache')).toBe('HIT')
        expect(b.body.equals(a.body)).toBe(true)
        expect(upstreamCalls(mock, body.marker)).toBe(2)
      } finally {
        await shared.close()
      }
    })

    it('does not store a stream that broke before [DONE], nor an upstream error', async () => {
      const body = chatBody({ stream: true })
      const events = chatStreamEvents(MODEL, 6, undefined)
      mock.once((_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write(events.slice(0, 3).join(''))
        setTimeout(() => res.destroy(), 20)
      })
      // The gateway cuts the client's connection too, so the client knows it is truncated.
      const broken = await fetch(gw.baseURL + '/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(send(body))
      })
      expect(broken.status).toBe(200)
      await expect(broken.text()).rejects.toThrow(/terminated/)
      mock.once((_req, _body, res) => {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end('{"error":{"message":"boom","type":"server_error","param":null,"code":null}}')
      })
      const failed = await post(gw, '/chat/completions', send(body))
      expect(failed.status).toBe(500)
      const ok = await post(gw, '/chat/completions', send(body))
      expect(ok.headers.get('x-gateway-cache')).toBe('MISS')
      expect(ok.body.toString()).toContain('[DONE]')
      const hit = await post(gw, '/chat/completions', send(body))
      expect(hit.headers.get('x-gateway-cache')).toBe('HIT')
      expect(hit.body.equals(ok.body)).toBe(true)
      expect(upstreamCalls(mock, body.marker)).toBe(3)
    })

    it('does not store a Responses stream that ended in response.failed', async () => {
      const input = `fail ${randomUUID()}`
      mock.once((_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.end(responsesStreamEvents(MODEL, 3, DEFAULT_USAGE, 'failed').join(''))
      })
      const first = await post(gw, '/responses', { model: MODEL, input, stream: true })
      expect(first.body.toString()).toContain('response.failed')
      const second = await post(gw, '/responses', { model: MODEL, input, stream: true })
      expect(second.headers.get('x-gateway-cache')).toBe('MISS')
      expect(second.body.toString()).toContain('response.completed')
      expect(upstreamCalls(mock, input)).toBe(2)
    })

    it('expires entries after their TTL', async () => {
      vi.useFakeTimers({ toFake: ['Date'] })
      try {
        const body = chatBody()
        await post(gw, '/chat/completions', send(body), { 'x-gateway-cache-ttl': '5' })
        vi.setSystemTime(Date.now() + 4_000)
        const fresh = await post(gw, '/chat/completions', send(body), { 'x-gateway-cache-ttl': '5' })
        expect(fresh.headers.get('x-gateway-cache')).toBe('HIT')
        expect(fresh.headers.get('age')).toBe('4')
        vi.setSystemTime(Date.now() + 2_000)
        const stale = await post(gw, '/chat/completions', send(body), { 'x-gateway-cache-ttl': '5' })
        expect(stale.headers.get('x-gateway-cache')).toBe('MISS')
        expect(upstreamCalls(mock, body.marker)).toBe(2)
      } finally {
        vi.useRealTimers()
      }
    })

    it('sends 20 concurrent identical streams upstream once; every client gets the full, identical bytes live', async () => {
      const body = chatBody({ stream: true })
      mock.options.chunkDelayMs = 60
      mock.options.chunks = 20
      try {
        const open = () => fetch(gw.baseURL + '/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(send(body)) })
        const leader = await open() // headers: the leader's stream has started
        const others = Array.from({ length: 18 }, () => post(gw, '/chat/completions', send(body)))
        const watcher = await open()
        const watcherReader = watcher.body!.getReader()
        const watcherParts = [Buffer.from((await watcherReader.read()).value!)]
        // The 20th client got the stream so far before its end: it follows live.
        expect(watcherParts[0]!.toString()).not.toContain('[DONE]')
        const full = await readAll(leader.body!.getReader())
        watcherParts.push(await readAll(watcherReader))
        const all = await Promise.all(others)
        expect(full.toString()).toContain('data: [DONE]')
        expect(leader.headers.get('x-gateway-cache')).toBe('MISS')
        expect(watcher.headers.get('x-gateway-cache')).toBe('HIT')
        expect(Buffer.concat(watcherParts).equals(full)).toBe(true)
        for (const a of all) {
          expect(a.status).toBe(200)
          expect(a.headers.get('x-gateway-cache')).toBe('HIT')
          expect(a.body.equals(full)).toBe(true)
        }
        expect(upstreamCalls(mock, body.marker)).toBe(1)
      } finally {
        mock.options.chunkDelayMs = 0
        mock.options.chunks = 6
      }
    })

    it('coalesces identical JSON requests; when the leader fails, the waiters go upstream themselves', async () => {
      const body = chatBody()
      mock.options.latencyMs = 300
      try {
        const leader = post(gw, '/chat/completions', send(body))
        await waitFor(() => upstreamCalls(mock, body.marker) === 1)
        const all = [await leader, ...await Promise.all([1, 2, 3, 4].map(() => post(gw, '/chat/completions', send(body))))]
        expect(all.map((a) => a.headers.get('x-gateway-cache'))).toEqual(['MISS', 'HIT', 'HIT', 'HIT', 'HIT'])
        for (const a of all) expect(a.body.equals(all[0]!.body)).toBe(true)
        expect(upstreamCalls(mock, body.marker)).toBe(1)

        const failing = chatBody()
        mock.once(async (_req, _body, res) => {
          await new Promise((resolve) => setTimeout(resolve, 300))
          res.writeHead(503, { 'content-type': 'application/json' })
          res.end('{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}')
        })
        const doomed = post(gw, '/chat/completions', send(failing))
        await waitFor(() => upstreamCalls(mock, failing.marker) === 1)
        const waiters = await Promise.all([1, 2].map(() => post(gw, '/chat/completions', send(failing))))
        expect((await doomed).status).toBe(503)
        expect(waiters.map((w) => w.status)).toEqual([200, 200])
        // One of them led the retry, the other waited for it.
        expect(waiters.map((w) => w.headers.get('x-gateway-cache')).sort()).toEqual(['HIT', 'MISS'])
        expect(upstreamCalls(mock, failing.marker)).toBe(2)
      } finally {
        mock.options.latencyMs = 0
      }
    })

    it('does not store answers above CACHE_MAX_ENTRY_BYTES, yet coalesced waiters still get every byte', async () => {
      const small = await startGateway({ ...store.overrides, CACHE_TTL_SECONDS: 60, CACHE_MAX_ENTRY_BYTES: 500, keys }, {}, mock)
      // Slow enough that the waiters join before the stream passes 500 bytes (then it takes no new ones).
      mock.options.chunkDelayMs = 150
      try {
        const json = chatBody()
        await post(small, '/chat/completions', send(json))
        expect((await post(small, '/chat/completions', send(json))).headers.get('x-gateway-cache')).toBe('MISS')
        const body = chatBody({ stream: true })
        const leader = post(small, '/chat/completions', send(body))
        await waitFor(() => upstreamCalls(mock, body.marker) === 1)
        const waiters = await Promise.all([1, 2].map(() => post(small, '/chat/completions', send(body))))
        const full = (await leader).body
        expect(full.length).toBeGreaterThan(500)
        for (const w of waiters) expect(w.body.equals(full)).toBe(true)
        expect(upstreamCalls(mock, body.marker)).toBe(1)
        const later = await post(small, '/chat/completions', send(body))
        expect(later.headers.get('x-gateway-cache')).toBe('MISS')
        expect(upstreamCalls(mock, json.marker)).toBe(2)
        expect(upstreamCalls(mock, body.marker)).toBe(2)
      } finally {
        mock.options.chunkDelayMs = 0
        await small.close()
      }
    })

    it('meters hits and coalesced waiters at $0 and counts what they saved in /admin/usage', async () => {
      const body = chatBody()
      const miss = await post(gw, '/chat/completions', send(body), {}, SAVER_KEY)
      const hit = await post(gw, '/chat/completions', send(body), {}, SAVER_KEY)
      expect(miss.headers.get('x-gateway-cost-usd')).toBe(String(HAND_USD))
      expect(hit.headers.get('x-gateway-cache')).toBe('HIT')
      expect(hit.headers.get('x-gateway-cost-usd')).toBe('0')
      const streamed = chatBody({ stream: true })
      mock.options.chunkDelayMs = 40
      try {
        const leader = post(gw, '/chat/completions', send(streamed), {}, SAVER_KEY)
        await waitFor(() => upstreamCalls(mock, streamed.marker) === 1)
        const waiters = await Promise.all([1, 2, 3].map(() => post(gw, '/chat/completions', send(streamed), {}, SAVER_KEY)))
        expect(waiters.map((w) => w.headers.get('x-gateway-cache'))).toEqual(['HIT', 'HIT', 'HIT'])
        await leader
      } finally {
        mock.options.chunkDelayMs = 0
      }
      expect(upstreamCalls(mock, streamed.marker)).toBe(1)
      let row: Record<string, number> | undefined
      await waitFor(async () => {
        const res = await fetch(`${gw.url}/admin/usage?group_by=key`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
        const data = (await res.json() as { data: Array<Record<string, number> & { key_name: string }> }).data
        row = data.find((r) => r.key_name === 'saver')
        return row?.requests === 6
      })
      expect(row).toMatchObject({ requests: 6, cache_hits: 4 })
      expect(row!.cost_usd).toBeCloseTo(2 * HAND_USD, 12)
      expect(row!.saved_usd).toBeCloseTo(4 * HAND_USD, 12)
    })

    it('counts hits, misses and bypasses in /metrics', async () => {
      const text = await (await fetch(gw.url + '/metrics')).text()
      for (const result of ['hit', 'miss', 'bypass']) {
        const m = new RegExp(`gateway_cache_requests_total\\{result="${result}"\\} (\\d+)`).exec(text)
        expect(Number(m?.[1])).toBeGreaterThan(0)
      }
    })

    if (options.instances) {
      it('makes an identical JSON request on another instance wait for the first one\'s answer (fill lock)', async () => {
        const second = await startGateway({ ...store.overrides, CACHE_TTL_SECONDS: 60, UPSTREAM_RETRIES: 0, keys }, {}, mock)
        mock.options.latencyMs = 400
        try {
          const body = chatBody()
          const first = post(gw, '/chat/completions', send(body))
          await waitFor(() => upstreamCalls(mock, body.marker) === 1)
          const other = await post(second, '/chat/completions', send(body))
          const a = await first
          expect(a.headers.get('x-gateway-cache')).toBe('MISS')
          expect(other.headers.get('x-gateway-cache')).toBe('HIT')
          expect(other.body.equals(a.body)).toBe(true)
          expect(upstreamCalls(mock, body.marker)).toBe(1)

          // The first instance's answer fails: the other one goes upstream itself.
          const failing = chatBody()
          mock.once(async (_req, _body, res) => {
            await new Promise((resolve) => setTimeout(resolve, 400))
            res.writeHead(500, { 'content-type': 'application/json' })
            res.end('{"error":{"message":"boom","type":"server_error","param":null,"code":null}}')
          })
          const doomed = post(gw, '/chat/completions', send(failing))
          await waitFor(() => upstreamCalls(mock, failing.marker) === 1)
          const retried = await post(second, '/chat/completions', send(failing))
          expect((await doomed).status).toBe(500)
          expect(retried.status).toBe(200)
          expect(retried.headers.get('x-gateway-cache')).toBe('MISS')
          expect(upstreamCalls(mock, failing.marker)).toBe(2)
        } finally {
          mock.options.latencyMs = 0
          await second.close()
        }
      })
    }

    // Last: the store stays down. The embedded store cannot be down, so it has no such test.
    if (options.outage) {
      it('serves misses, not errors, while the store is down', async () => {
        await store.stop!()
        const body = chatBody()
        const a = await post(gw, '/chat/completions', send(body))
        const b = await post(gw, '/chat/completions', send(body))
        expect([a.status, b.status]).toEqual([200, 200])
        expect(b.headers.get('x-gateway-cache')).toBe('MISS')
        expect(upstreamCalls(mock, body.marker)).toBe(2)
        const text = await (await fetch(gw.url + '/metrics')).text()
        expect(text).toMatch(/gateway_cache_errors_total\{op="get"\} [1-9]/)
        // One warning per outage, not one per request.
        expect(gw.logs.filter((l) => l.includes('cache store failing')).length).toBe(1)
        if (store.restart === undefined) return
        await store.restart()
        const again = chatBody()
        await waitFor(async () => {
          await post(gw, '/chat/completions', send(again))
          return (await post(gw, '/chat/completions', send(again))).headers.get('x-gateway-cache') === 'HIT'
        }, 20_000, 200)
        expect(gw.logs.some((l) => l.includes('cache store answers again'))).toBe(true)
      })
    }
  })
}

async function readAll (reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = []
  for (;;) {
    const r = await reader.read()
    if (r.done) return Buffer.concat(parts)
    parts.push(Buffer.from(r.value))
  }
}
