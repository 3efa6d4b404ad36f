import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { responseObject, type MockUpstream } from '../../src/mock/upstream.js'
import { startGateway, startGatewayPair, TEST_KEY, waitFor, type GatewayPair, type TestGateway } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'
import { HAND_USD, post, usage } from './helpers.js'

/** The mock answers the next POST /v1/responses as a queued background response. */
function queueNext (mock: MockUpstream, id: string): void {
  mock.once((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...responseObject('gpt-5.2-chat-latest', '', null, 'queued'), id }))
  })
}

async function read (gw: TestGateway, id: string): Promise<Response> {
  const res = await fetch(`${gw.baseURL}/responses/${id}`, { headers: { authorization: `Bearer ${TEST_KEY}` } })
  await res.arrayBuffer()
  return res
}

const total = async (gw: TestGateway): Promise<number> => (await usage(gw, '?group_by=')).body.total_cost_usd

describe('background responses', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway() })
  afterAll(async () => { await gw.close() })

  it('are billed once, to their creator, when read back finished', async () => {
    queueNext(gw.mock, 'resp_bg_1')
    const created = await post(gw, '/responses', { model: 'gpt-5.2-chat-latest', input: 'hi', background: true })
    expect((await created.json() as { status: string }).status).toBe('queued')
    expect(created.headers.get('x-gateway-cost-usd')).toBe('0')
    expect(await total(gw)).toBe(0)
    // The mock answers GET /v1/responses/{id} as completed, with usage.
    const first = await read(gw, 'resp_bg_1')
    expect(first.headers.get('x-gateway-cost-usd')).toBe('0.006265')
    await waitFor(async () => await total(gw) === HAND_USD)
    expect((await read(gw, 'resp_bg_1')).headers.get('x-gateway-cost-usd')).toBe('0')
    await read(gw, 'resp_bg_1')
    // The log line is written after metering's after(): all three reads are accounted for.
    await waitFor(() => gw.logs.filter((l) => l.includes('"route":"/v1/responses/{id}"')).length === 3)
    const { body } = await usage(gw, '?group_by=key,model')
    expect(body.data).toEqual([expect.objectContaining({ key_name: 'test', model: 'gpt-5.2-chat-latest', requests: 1, input_tokens: 1000, cost_usd: HAND_USD })])
  })

  it('reading a response this gateway did not start in the background costs nothing', async () => {
    // A foreground response (billed when made): reading it back adds nothing.
    await post(gw, '/responses', { model: 'gpt-5.2-chat-latest', input: 'hi' }).then((r) => r.arrayBuffer())
    await waitFor(async () => await total(gw) > HAND_USD)
    const before = await total(gw)
    const res = await read(gw, 'resp_mock')
    expect(res.status).toBe(200)
    expect(await total(gw)).toBe(before)
  })
})

describe('background responses across two instances on Redis', () => {
  let server: PrivateRedis
  let mock: MockUpstream
  let a: TestGateway
  let b: TestGateway
  let pair: GatewayPair
  beforeAll(async () => {
    server = await startRedis()
    pair = await startGatewayPair({ REDIS_URL: server.url })
    ;({ a, b, mock } = pair)
  })
  afterAll(async () => {
    await pair.close()
    await server.stop()
  })

  it('created on one, read back on both: billed exactly once', async () => {
    queueNext(mock, 'resp_bg_2')
    await (await post(a, '/responses', { model: 'gpt-5.2-chat-latest', input: 'hi', background: true })).arrayBuffer()
    await Promise.all([read(a, 'resp_bg_2'), read(b, 'resp_bg_2'), read(b, 'resp_bg_2')])
    const reads = (gw: TestGateway): number => gw.logs.filter((l) => l.includes('"route":"/v1/responses/{id}"')).length
    await waitFor(() => reads(a) === 1 && reads(b) === 2)
    // Each instance sees its own buffered spend at once and the other's within a flush.
    await waitFor(async () => await total(a) === HAND_USD && await total(b) === HAND_USD)
    expect((await usage(b, '?group_by=')).body.data[0]).toMatchObject({ requests: 1, cost_usd: HAND_USD })
    expect((await usage(a, '?group_by=')).body.data[0]).toMatchObject({ requests: 1, cost_usd: HAND_USD })
  })
})
