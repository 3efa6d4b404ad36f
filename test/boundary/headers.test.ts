import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, TEST_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'
import { startLenientUpstream, type LenientUpstream } from '../helpers/lenient-upstream.js'

const CHAT = { model: 'gpt-5.2-chat-latest', messages: [{ role: 'user' as const, content: 'hi' }] }
const LIMITED_KEY = 'sk-limited-0123456789abcdefghijklmnopqrstuvwxyz'

describe('headers both ways', () => {
  let up: LenientUpstream
  let gw: TestGateway
  beforeAll(async () => {
    up = await startLenientUpstream()
    gw = await startGateway({
      UPSTREAM_BASE_URL: up.baseUrl,
      keys: [{ name: 'test', key: TEST_KEY }, { name: 'limited', key: LIMITED_KEY, rpm: 100 }]
    })
  })
  afterAll(async () => {
    await gw.close()
    await up.close()
  })

  it('the openai SDK\'s organization, project and custom headers reach the upstream; the client\'s credentials never do', async () => {
    const client = gw.client(TEST_KEY, { organization: 'org-acme', project: 'proj-1', defaultHeaders: { 'x-team-trace': 't-1', 'x-api-key': 'sk-leak', cookie: 'sid=1', 'x-forwarded-for': '10.0.0.1', forwarded: 'for=10.0.0.1', 'x-gateway-cache-ttl': '0' } })
    await client.chat.completions.create(CHAT)
    const h = up.requests.at(-1)!.headers
    expect(h).toMatchObject({ 'openai-organization': 'org-acme', 'openai-project': 'proj-1', 'x-team-trace': 't-1', 'accept-encoding': 'identity' })
    expect(h['x-stainless-lang']).toBe('js')
    expect(h.authorization).toBe(`Bearer ${gw.config.UPSTREAM_API_KEY}`)
    for (const name of ['x-api-key', 'cookie', 'x-forwarded-for', 'forwarded', 'x-gateway-cache-ttl']) expect(h[name], name).toBeUndefined()
    expect(JSON.stringify(h)).not.toContain(TEST_KEY)
  })

  it('x-request-id: the client\'s own comes back on every answer and goes upstream; the upstream\'s goes to the log line only', async () => {
    const client = gw.client(TEST_KEY, { defaultHeaders: { 'x-request-id': 'my-trace-42' } })
    const { response } = await client.chat.completions.create(CHAT).withResponse()
    expect(response.headers.get('x-request-id')).toBe('my-trace-42')
    expect(up.requests.at(-1)!.headers['x-request-id']).toBe('my-trace-42')
    const stream = await client.chat.completions.create({ ...CHAT, stream: true }).withResponse()
    expect(stream.response.headers.get('x-request-id')).toBe('my-trace-42')
    for await (const c of stream.data) expect(c.object).toBe('chat.completion.chunk')
    // Answers the gateway itself gives: refused body, bad key, health.
    const refused = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'x-request-id': 'my-trace-43' }, body: '[]' })
    expect(refused.status).toBe(400)
    expect(refused.headers.get('x-request-id')).toBe('my-trace-43')
    const badKey = await fetch(`${gw.baseURL}/models`, { headers: { authorization: 'Bearer sk-nope', 'x-request-id': 'my-trace-44' } })
    expect(badKey.headers.get('x-request-id')).toBe('my-trace-44')
    const health = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': 'my-trace-45' } })
    expect(health.headers.get('x-request-id')).toBe('my-trace-45')
    await waitFor(() => gw.logs.some((l) => l.includes('"reqId":"my-trace-42"') && l.includes('"upstreamRequestId":"req_lenient"')))
  })

  it('x-request-id: an id that is not sane is replaced by the gateway\'s, which comes back instead', async () => {
    for (const bad of ['has space', 'x'.repeat(201), 'semi;colon']) {
      const res = await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${TEST_KEY}`, 'x-request-id': bad } })
      expect(res.status).toBe(200)
      const id = res.headers.get('x-request-id')!
      expect(id).toMatch(/^req_[0-9a-f]{32}$/)
      expect(up.requests.at(-1)!.headers['x-request-id']).toBe(id)
    }
    const none = await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${TEST_KEY}` } })
    expect(none.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/)
  })

  it('the upstream\'s x-ratelimit-* (the shared account\'s) never reach a client; a key with limits gets the gateway\'s own', async () => {
    const account = { 'x-ratelimit-limit-requests': '30000', 'x-ratelimit-remaining-requests': '29999', 'x-ratelimit-limit-tokens': '150000000', 'x-request-id': 'req_upstream_1' }
    const answer = JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: CHAT.model, choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })
    const script = () => up.once((_r, res) => { res.writeHead(200, { 'content-type': 'application/json', ...account }); res.end(answer) })
    script()
    const plain = await gw.client(TEST_KEY).chat.completions.create(CHAT).withResponse()
    for (const name of Object.keys(account)) if (name.startsWith('x-ratelimit')) expect(plain.response.headers.get(name), name).toBeNull()
    expect(plain.response.headers.get('x-request-id')).not.toBe('req_upstream_1')
    script()
    const limited = await gw.client(LIMITED_KEY).chat.completions.create(CHAT).withResponse()
    expect(limited.response.headers.get('x-ratelimit-limit-requests')).toBe('100')
    expect(Number(limited.response.headers.get('x-ratelimit-remaining-requests'))).toBeLessThan(100)
    expect(limited.response.headers.get('x-ratelimit-limit-tokens')).toBeNull()
  })
})
