import { createServer, type Server } from 'node:http'
import OpenAI, { APIError } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, startGateway, TEST_KEY, UPSTREAM_KEY, type TestGateway } from '../helpers/gateway.js'
import { freePort } from '../helpers/redis.js'

const headers = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }
interface ErrorBody { error: { code: string } }
const chatBody = JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] })

describe('errors a client sees', () => {
  let gw: TestGateway
  beforeAll(async () => {
    // No gateway retries here: these upstream errors are to pass through as sent (retries: test/upstreams).
    gw = await startGateway({ MAX_BODY_BYTES: 4096, UPSTREAM_RETRIES: 0, keys: [{ name: 'test', key: TEST_KEY }, { name: 'mini-only', key: 'sk-mini-only-0123456789abcdefghijkl', models: ['gpt-5-mini*'] }] })
  })
  afterAll(async () => { await gw.close() })

  async function post (body: string | Buffer, extra: Record<string, string> = {}, path = '/chat/completions'): Promise<{ status: number, json: any, res: Response }> {
    const res = await fetch(gw.baseURL + path, { method: 'POST', headers: { ...headers, ...extra }, body })
    const text = await res.text()
    return { status: res.status, json: text.length > 0 ? JSON.parse(text) : undefined, res }
  }

  it('answers malformed JSON, a non-object and a missing model with 400 in OpenAI\'s shape', async () => {
    for (const body of ['{"model":', '[1,2]', '{"messages":[]}']) {
      const { status, json } = await post(body)
      expect(status).toBe(400)
      expect(json.error.type).toBe('invalid_request_error')
      expect(typeof json.error.message).toBe('string')
      expect(json.error).toHaveProperty('param')
      expect(json.error).toHaveProperty('code')
    }
    expect((await post('{"messages":[]}')).json.error.param).toBe('model')
  })

  it('answers a body over MAX_BODY_BYTES with 413 request_too_large', async () => {
    const { status, json } = await post(JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] }))
    expect(status).toBe(413)
    expect(json.error.code).toBe('request_too_large')
  })

  it('refuses a missing or unknown key with 401 invalid_api_key (AuthenticationError in the SDK)', async () => {
    const res = await fetch(gw.baseURL + '/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody })
    expect(res.status).toBe(401)
    expect(((await res.json()) as ErrorBody).error.code).toBe('invalid_api_key')
    const err = await gw.client('sk-unknown-0123456789abcdefghijklmnopqrstu').chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
    expect((err as APIError).code).toBe('invalid_api_key')
    expect((err as APIError).message).not.toContain('sk-unknown-0123456789abcdefghijklmnopqrstu')
  })

  it('refuses a model outside the key\'s allow-list with 403 model_not_allowed', async () => {
    const client = gw.client('sk-mini-only-0123456789abcdefghijkl')
    const err = await client.chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect((err as APIError).code).toBe('model_not_allowed')
    const ok = await client.chat.completions.create({ model: 'gpt-5-mini-2026', messages: [] })
    expect(ok.model).toBe('gpt-5-mini-2026')
  })

  for (const [status, extra] of [[400, {}], [429, { 'retry-after': '7' }], [500, {}]] as const) {
    it(`passes an upstream ${status} through with its status, body and headers`, async () => {
      const upstreamBody = JSON.stringify({ error: { message: `upstream says ${status}`, type: 'comet_api_error', param: '', code: 'x' } })
      gw.mock.once((_req, _b, res) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'req_up_1', ...extra })
        res.end(upstreamBody)
      })
      const { status: got, res } = await post(chatBody)
      expect(got).toBe(status)
      expect(res.headers.get('x-request-id')).toBe('req_up_1')
      if (status === 429) expect(res.headers.get('retry-after')).toBe('7')
      const again = await fetch(gw.baseURL + '/models', { headers })
      expect(again.status).toBe(200)
    })
  }

  it('passes an upstream error body byte for byte', async () => {
    const upstreamBody = '{"error":{"message":"exact bytes","type":"x","param":null,"code":"y"}}'
    gw.mock.once((_req, _b, res) => { res.writeHead(400, { 'content-type': 'application/json' }); res.end(upstreamBody) })
    const res = await fetch(gw.baseURL + '/chat/completions', { method: 'POST', headers, body: chatBody })
    expect(await res.text()).toBe(upstreamBody)
  })

  it('forwards the right headers each way and drops hop-by-hop ones', async () => {
    gw.mock.once((req, _b, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': '__cf_bm=secret', 'x-ratelimit-remaining-requests': '42', 'keep-alive': 'timeout=5', 'x-custom': 'kept', connection: 'x-custom-hop', 'x-custom-hop': 'dropped' })
      res.end(JSON.stringify({ seen: req.headers }))
    })
    const res = await fetch(gw.baseURL + '/chat/completions', { method: 'POST', headers: { ...headers, 'idempotency-key': 'idem-1', 'openai-beta': 'assistants=v2', cookie: 'c=1', 'x-request-id': 'client-req-1' }, body: chatBody })
    const { seen } = (await res.json()) as { seen: Record<string, string | undefined> }
    expect(seen.authorization).toBe(`Bearer ${UPSTREAM_KEY}`)
    expect(seen['idempotency-key']).toBe('idem-1')
    expect(seen['openai-beta']).toBe('assistants=v2')
    expect(seen['x-request-id']).toBe('client-req-1')
    expect(seen['accept-encoding']).toBe('identity')
    expect(seen.cookie).toBeUndefined()
    expect(res.headers.get('set-cookie')).toBeNull()
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('42')
    expect(res.headers.get('x-custom')).toBe('kept')
    expect(res.headers.get('x-custom-hop')).toBeNull()
    expect(res.headers.get('x-request-id')).toBe('client-req-1')
  })

  it('puts x-request-id on every response, health and admin included', async () => {
    for (const [path, h] of [['/healthz', {}], ['/readyz', {}], ['/admin/keys', { authorization: `Bearer ${ADMIN_KEY}` }], ['/v1/nope', {}], ['/nowhere', {}]] as const) {
      const res = await fetch(gw.url + path, { headers: h })
      expect(res.headers.get('x-request-id'), path).toMatch(/^req_[0-9a-f]{32}$/)
    }
  })

  it('never writes a secret into a log line', () => {
    const all = gw.logs.join('\n')
    expect(all.length).toBeGreaterThan(0)
    for (const secret of [TEST_KEY, UPSTREAM_KEY, ADMIN_KEY, 'sk-mini-only-0123456789abcdefghijkl', 'sk-unknown-0123456789abcdefghijklmnopqrstu']) {
      expect(all).not.toContain(secret)
    }
  })
})

describe('an upstream that cannot answer', () => {
  let hanging: Server
  afterAll(() => { hanging?.closeAllConnections(); hanging?.close() })

  it('answers 502 upstream_unavailable when nothing listens', async () => {
    const port = await freePort()
    const gw = await startGateway({ UPSTREAM_BASE_URL: `http://127.0.0.1:${port}/v1` })
    try {
      const res = await fetch(gw.baseURL + '/chat/completions', { method: 'POST', headers, body: chatBody })
      expect(res.status).toBe(502)
      expect(((await res.json()) as ErrorBody).error.code).toBe('upstream_unavailable')
    } finally { await gw.close() }
  })

  it('answers 504 upstream_timeout when the upstream sends no headers in time', async () => {
    hanging = createServer(() => { /* never answers */ })
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve))
    const port = (hanging.address() as { port: number }).port
    const gw = await startGateway({ UPSTREAM_BASE_URL: `http://127.0.0.1:${port}/v1`, UPSTREAM_TIMEOUT_MS: 300 })
    try {
      const err = await gw.client().chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [] }).catch((e: unknown) => e)
      expect((err as APIError).status).toBe(504)
      expect((err as APIError).code).toBe('upstream_timeout')
    } finally { await gw.close() }
  })
})
