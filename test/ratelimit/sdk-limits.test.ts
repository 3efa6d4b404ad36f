import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI, { RateLimitError } from 'openai'
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'

const RPM_KEY = 'sk-rpm-0123456789abcdefghijklmnopqrstuvwx'
const TPM_KEY = 'sk-tpm-0123456789abcdefghijklmnopqrstuvwx'
const CONC_KEY = 'sk-conc-0123456789abcdefghijklmnopqrstuvw'
const FREE_KEY = 'sk-free-0123456789abcdefghijklmnopqrstuvw'
const DEFAULT_KEY = 'sk-dflt-0123456789abcdefghijklmnopqrstuvw'
const CACHED_RPM_KEY = 'sk-crpm-0123456789abcdefghijklmnopqrstuvw'
const CACHED_TPM_KEY = 'sk-ctpm-0123456789abcdefghijklmnopqrstuvw'

const chat = { model: 'gpt-5.2-chat-latest', messages: [{ role: 'user' as const, content: 'hi' }] }

async function rateLimitError (p: Promise<unknown>): Promise<RateLimitError> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(RateLimitError)
  return err as RateLimitError
}

async function metricsText (gw: TestGateway): Promise<string> {
  return await (await fetch(`${gw.url}/metrics`)).text()
}

describe('per-key limits through the openai SDK (embedded store)', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway({
      // The upstream error of 'frees the slot' must reach the client, not be retried away.
      UPSTREAM_RETRIES: 0,
      keys: [
        { name: 'rpm-key', key: RPM_KEY, rpm: 3, tpm: 100_000 },
        { name: 'tpm-key', key: TPM_KEY, tpm: 2000 },
        { name: 'conc-key', key: CONC_KEY, max_concurrency: 1 },
        { name: 'free-key', key: FREE_KEY },
        { name: 'default-key', key: DEFAULT_KEY, tpm: 5000 },
        { name: 'cached-rpm', key: CACHED_RPM_KEY, rpm: 2 },
        { name: 'cached-tpm', key: CACHED_TPM_KEY, tpm: 2000 }
      ],
      limits: { defaults: { rpm: 1000 } }
    })
  })
  afterAll(async () => { await gw.close() })

  it('sends OpenAI rate-limit headers on every answer of a limited key', async () => {
    const { response } = await gw.client(RPM_KEY).chat.completions.create(chat).withResponse()
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('3')
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('2')
    expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/^(20s|19\.\d+s)$/)
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('100000')
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toMatch(/^\d+$/)
    expect(response.headers.get('x-ratelimit-reset-tokens')).toMatch(/^\d/)
  })

  it('answers 429 rate_limit_exceeded that the SDK raises as RateLimitError with retry-after', async () => {
    const client = gw.client(RPM_KEY)
    await client.chat.completions.create(chat)
    await client.chat.completions.create(chat)
    const err = await rateLimitError(client.chat.completions.create(chat))
    expect(err.status).toBe(429)
    expect(err.code).toBe('rate_limit_exceeded')
    expect(err.type).toBe('requests')
    expect(err.message).toMatch(/requests per min \(RPM\).*Limit 3/)
    expect(err.headers.get('x-ratelimit-remaining-requests')).toBe('0')
    expect(err.headers.get('x-ratelimit-limit-requests')).toBe('3')
    const retryMs = Number(err.headers.get('retry-after-ms'))
    expect(retryMs).toBeGreaterThan(0)
    expect(retryMs).toBeLessThanOrEqual(20_000)
    expect(Number(err.headers.get('retry-after'))).toBe(Math.max(1, Math.ceil(retryMs / 1000)))
    expect(err.headers.get('x-request-id')).toMatch(/^req_/)
    expect(await metricsText(gw)).toMatch(/gateway_rate_limited_total\{key="rpm-key",limit="rpm"\} 1/)
  })

  it('streams are limited the same way (a refused stream raises before any event)', async () => {
    const err = await rateLimitError(gw.client(RPM_KEY).chat.completions.create({ ...chat, stream: true }))
    expect(err.headers.get('x-ratelimit-remaining-requests')).toBe('0')
  })

  it('applies limits.defaults to a key without limits of its own', async () => {
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${FREE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(chat)
    })
    expect(res.status).toBe(200)
    // `limits.defaults.rpm` applies to every key: free-key has no limit of its own.
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('1000')
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBeNull()
  })

  it('debits the real tokens of each answer from TPM, stream or not, then refuses', async () => {
    const client = gw.client(TPM_KEY)
    // The mock reports 1000 input + 500 output tokens per answer. The first request
    // reserves its worst case (4096 output tokens: no max_tokens), more than the minute
    // holds; nothing else is open, so it runs, and the header counts its reservation.
    const first = await client.chat.completions.create(chat).withResponse()
    expect(first.response.headers.get('x-ratelimit-remaining-tokens')).toBe('0')
    const stream = await client.chat.completions.create({ ...chat, stream: true })
    for await (const chunk of stream) expect(chunk).toBeDefined()
    const err = await rateLimitError(client.chat.completions.create(chat))
    expect(err.type).toBe('tokens')
    expect(err.headers.get('x-ratelimit-remaining-tokens')).toBe('0')
    expect(err.headers.get('x-ratelimit-limit-tokens')).toBe('2000')
    // 3000 tokens used of 2000/min: 1000 tokens of debt, 30 s until the next one is admitted.
    expect(Number(err.headers.get('retry-after'))).toBeGreaterThanOrEqual(29)
    expect(Number(err.headers.get('retry-after'))).toBeLessThanOrEqual(31)
    expect(await metricsText(gw)).toMatch(/gateway_rate_limited_total\{key="tpm-key",limit="tpm"\} 1/)
  })

  it('frees a concurrency slot when the client aborts a stream', async () => {
    // The next upstream answer: headers and one event, then nothing until the gateway hangs up.
    let upstreamClosed = false
    gw.mock.once(async (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"slow"},"finish_reason":null}]}\n\n')
      res.on('close', () => { upstreamClosed = true })
    })
    const client = gw.client(CONC_KEY)
    const abort = new AbortController()
    const stream = await client.chat.completions.create({ ...chat, stream: true }, { signal: abort.signal })
    const it = stream[Symbol.asyncIterator]()
    expect((await it.next()).value?.choices[0]?.delta.content).toBe('slow')

    const err = await rateLimitError(client.chat.completions.create(chat))
    expect(err.message).toMatch(/concurrent requests.*Limit 1, In flight 1/)
    expect(Number(err.headers.get('retry-after'))).toBe(1)

    abort.abort()
    await waitFor(() => upstreamClosed)
    // The slot comes back once the gateway has seen the abort: the next request passes.
    await waitFor(async () => {
      try {
        await client.chat.completions.create(chat)
        return true
      } catch (e) {
        if (e instanceof RateLimitError) return false
        throw e
      }
    })
    expect(await metricsText(gw)).toMatch(/gateway_rate_limited_total\{key="conc-key",limit="concurrency"\} 1/)
  })

  it('frees the slot after upstream errors too', async () => {
    gw.mock.once(async (_req, _body, res) => {
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end('{"error":{"message":"boom","type":"server_error","param":null,"code":null}}')
    })
    const client = gw.client(CONC_KEY)
    const err = await client.chat.completions.create(chat).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.InternalServerError)
    expect((await client.chat.completions.create(chat)).choices[0]!.message.content).toBeTruthy()
  })
  it('counts a cache hit as a request for RPM, but debits no tokens for it', async () => {
    const cached = { headers: { 'x-gateway-cache-ttl': '60' } }
    const rpm = gw.client(CACHED_RPM_KEY)
    const first = await rpm.chat.completions.create(chat, cached).withResponse()
    const hit = await rpm.chat.completions.create(chat, cached).withResponse()
    expect(hit.response.headers.get('x-gateway-cache')).toBe('HIT')
    expect(hit.response.headers.get('x-ratelimit-remaining-requests')).toBe('0')
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('1')
    expect((await rateLimitError(rpm.chat.completions.create(chat, cached))).headers.get('x-ratelimit-remaining-requests')).toBe('0')

    // 2000 TPM: the miss uses 1500 tokens; hits use none, so the key keeps being served.
    // (max_tokens 100 keeps each request's reservation small: about 125 tokens.)
    const tpm = gw.client(CACHED_TPM_KEY)
    const small = { ...chat, max_tokens: 100 }
    await tpm.chat.completions.create(small, cached)
    let last = 0
    for (let i = 0; i < 3; i++) {
      const r = await tpm.chat.completions.create(small, cached).withResponse()
      expect(r.response.headers.get('x-gateway-cache')).toBe('HIT')
      // 500 left after the miss less this request's reservation, refilling at 33 tokens a second, never debited again.
      const left = Number(r.response.headers.get('x-ratelimit-remaining-tokens'))
      expect(left).toBeGreaterThanOrEqual(Math.max(500 - 130, last))
      expect(left).toBeLessThan(1000)
      last = left
    }
  })
})
