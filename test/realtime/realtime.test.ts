import { connect as tcpConnect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { OpenAIRealtimeWS } from 'openai/realtime/ws'
import { ADMIN_KEY, startGateway, TEST_KEY, UPSTREAM_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'
import { attachMockRealtime, type MockRealtime } from '../../src/mock/realtime.js'

const USAGE = { input: 1000, cached: 600, output: 500, reasoning: 0 }
const LIMITED_KEY = 'sk-test-limited-0123456789abcdefghijklmnopqrstuv'
const MODEL = 'gpt-realtime'

function wsUrl (gw: TestGateway, query = `?model=${MODEL}`): string {
  return gw.url.replace('http:', 'ws:') + '/v1/realtime' + query
}

/** Opens a raw client socket; resolves with it open, or rejects with the HTTP status of a refusal. */
/** A client socket and every event it received, collected from the start. */
interface Client { ws: WebSocket, events: Array<Record<string, unknown>> }

function connect (url: string, opts: { protocols?: string[], headers?: Record<string, string> } = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers })
    const events: Array<Record<string, unknown>> = []
    ws.on('message', (d: Buffer) => { events.push(JSON.parse(d.toString()) as Record<string, unknown>) })
    ws.once('open', () => resolve({ ws, events }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })))
    })
    ws.once('error', reject)
  })
}

async function nextEvent (c: Client, type: string): Promise<Record<string, unknown>> {
  await waitFor(() => c.events.some((e) => e.type === type))
  return c.events.find((e) => e.type === type)!
}

async function usageRows (gw: TestGateway): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${gw.url}/admin/usage?group_by=key,model`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  return ((await res.json()) as { data: Array<Record<string, unknown>> }).data
}

describe('Realtime API over WebSocket', () => {
  let gw: TestGateway
  let rt: MockRealtime

  beforeAll(async () => {
    gw = await startGateway({
      keys: [{ name: 'test', key: TEST_KEY }, { name: 'limited', key: LIMITED_KEY, models: ['gpt-5.2*'] }],
      pricing: { [MODEL]: { input: 4, cached_input: 0.4, output: 16 } }
    })
    rt = attachMockRealtime(gw.mock.server, UPSTREAM_KEY, USAGE)
  })
  afterAll(async () => { await gw?.close() })

  it('relays a session for the openai SDK realtime client with the upstream key, and meters response.done', async () => {
    const before = rt.connections.length
    const client = gw.client()
    // The SDK always dials wss://; the test gateway speaks plain HTTP, so the socket is plain TCP.
    const rtClient = new OpenAIRealtimeWS({ model: MODEL, options: { createConnection: ((o: { host: string, port: number }) => tcpConnect(o.port, o.host)) as never } }, client)
    const created = await new Promise<Record<string, unknown>>((resolve, reject) => {
      rtClient.on('session.created', (e) => resolve(e as unknown as Record<string, unknown>))
      rtClient.on('error', reject)
    })
    expect((created.session as { model: string }).model).toBe(MODEL)
    const done = new Promise<Record<string, unknown>>((resolve) => rtClient.on('response.done', (e) => resolve(e as unknown as Record<string, unknown>)))
    rtClient.send({ type: 'response.create' })
    const event = await done
    expect((event.response as { usage: { input_tokens: number } }).usage.input_tokens).toBe(1000)
    rtClient.close()

    const conn = rt.connections[before]!
    expect(conn.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`)
    expect(JSON.stringify(conn.headers)).not.toContain(TEST_KEY)
    expect(conn.received).toEqual([{ type: 'response.create' }])
    await waitFor(() => conn.closed)

    // (1000 − 600) × $4 + 600 × $0.40 + 500 × $16 per 1M = $0.0016 + $0.00024 + $0.008 = $0.00984
    await waitFor(async () => (await usageRows(gw)).some((r) => r.model === MODEL))
    const row = (await usageRows(gw)).find((r) => r.model === MODEL && r.key_name === 'test')!
    expect(row).toMatchObject({ requests: 1, input_tokens: 1000, cached_input_tokens: 600, output_tokens: 500, cost_usd: 0.00984 })
  })

  it('takes the key from the openai-insecure-api-key subprotocol and never sends it upstream', async () => {
    const before = rt.connections.length
    const c = await connect(wsUrl(gw), { protocols: ['realtime', `openai-insecure-api-key.${TEST_KEY}`] })
    expect(c.ws.protocol).toBe('realtime')
    await nextEvent(c, 'session.created')
    const conn = rt.connections[before]!
    expect(conn.headers['sec-websocket-protocol']).toBe('realtime')
    expect(conn.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`)
    c.ws.close()
    await waitFor(() => conn.closed)
  })

  it('refuses a missing or unknown key with 401 and a model the key may not use with 403, before any upstream socket', async () => {
    const before = rt.connections.length
    await expect(connect(wsUrl(gw))).rejects.toMatchObject({ status: 401 })
    const unknown = await connect(wsUrl(gw), { headers: { authorization: 'Bearer sk-unknown-0123456789abcdefghijklmnop' } }).catch((e: { status: number, body: string }) => e)
    expect(unknown).toMatchObject({ status: 401 })
    expect(JSON.parse((unknown as { body: string }).body).error.code).toBe('invalid_api_key')
    const denied = await connect(wsUrl(gw), { headers: { authorization: `Bearer ${LIMITED_KEY}` } }).catch((e: { status: number, body: string }) => e)
    expect(denied).toMatchObject({ status: 403 })
    expect(JSON.parse((denied as { body: string }).body).error.code).toBe('model_not_allowed')
    expect(rt.connections.length).toBe(before)
  })

  it('closes the upstream socket when the client leaves, and the client socket when the upstream does', async () => {
    const before = rt.connections.length
    const a = await connect(wsUrl(gw), { headers: { authorization: `Bearer ${TEST_KEY}` } })
    await nextEvent(a, 'session.created')
    a.ws.terminate()
    await waitFor(() => rt.connections[before]!.closed)

    const b = await connect(wsUrl(gw), { headers: { authorization: `Bearer ${TEST_KEY}` } })
    await nextEvent(b, 'session.created')
    const closed = new Promise<number>((resolve) => b.ws.once('close', (code) => resolve(code)))
    rt.closeAll(4000)
    expect(await closed).toBe(4000)
  })

  it('relays many frames in order both ways', async () => {
    const before = rt.connections.length
    const c = await connect(wsUrl(gw), { headers: { authorization: `Bearer ${TEST_KEY}` } })
    await nextEvent(c, 'session.created')
    const n = 500
    for (let i = 0; i < n; i++) c.ws.send(JSON.stringify({ type: 'session.update', session: { i, pad: 'x'.repeat(2000) } }))
    const updated = (): Array<Record<string, unknown>> => c.events.filter((e) => e.type === 'session.updated')
    await waitFor(() => updated().length === n, 30_000)
    expect(updated().map((e) => (e.session as { i: number }).i)).toEqual(Array.from({ length: n }, (_, i) => i))
    expect(rt.connections[before]!.received.length).toBe(n)
    c.ws.close()
  })
})
