import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { ATTACK_ADMIN, ATTACK_KEY, startGatewayProcess, type GatewayProcess } from '../helpers/attack.js'
import { underAttack } from './raw-client.js'

const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

/** One GET from the client address `from` (127.0.0.0/8 is all loopback on Linux). */
async function get (url: string, path: string, from: string, bearer?: string): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { localAddress: from, agent: false, headers: bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {} }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    req.end()
  })
}

function expectThrottled (a: Answer): void {
  expect(a.status).toBe(429)
  const retryAfter = Number(a.headers['retry-after'])
  expect(retryAfter).toBeGreaterThan(0)
  expect(retryAfter).toBeLessThanOrEqual(60)
  expect(JSON.parse(a.body)).toMatchObject({ error: { type: 'invalid_request_error', code: 'rate_limit_exceeded' } })
}

describe('admin authentication throttle', () => {
  let mock: MockUpstream
  let g: GatewayProcess

  beforeAll(async () => {
    mock = await startMockUpstream()
    g = await startGatewayProcess({ upstreamBaseUrl: mock.baseUrl, env: { METRICS_TOKEN } })
  })
  afterAll(async () => {
    await g?.kill()
    await mock?.close()
  })

  it('after ten failures from an address, every attempt from it is 429, the right key too; other addresses are not affected', async () => {
    await underAttack(g, async () => {
      const attacker = '127.0.0.3'
      for (let i = 0; i < 10; i++) {
        const a = await get(g.url, '/admin/keys', attacker, i % 2 === 0 ? `guess-${i}` : undefined)
        expect(a.status).toBe(401)
        expect(JSON.parse(a.body)).toMatchObject({ error: { code: 'invalid_admin_key' } })
      }
      expectThrottled(await get(g.url, '/admin/keys', attacker, 'guess-10'))
      expectThrottled(await get(g.url, '/admin/keys', attacker, ATTACK_ADMIN))
      // /metrics takes the admin key too, so it shares the count.
      expectThrottled(await get(g.url, '/metrics', attacker, METRICS_TOKEN))
      // Another address is served, and its own failures are its own.
      expect((await get(g.url, '/admin/keys', '127.0.0.2', ATTACK_ADMIN)).status).toBe(200)
      expect((await get(g.url, '/admin/keys', '127.0.0.2', 'wrong')).status).toBe(401)
      expect((await get(g.url, '/metrics', '127.0.0.2', METRICS_TOKEN)).status).toBe(200)
      // A flood of guesses from the throttled address stays cheap and refused.
      const flood = await Promise.all(Array.from({ length: 200 }, async (_, i) => await get(g.url, '/admin/keys', attacker, `guess-${i}`)))
      expect(flood.every((a) => a.status === 429)).toBe(true)
    })
  })

  it('failures on /metrics count towards the same throttle', async () => {
    const from = '127.0.0.4'
    for (let i = 0; i < 10; i++) expect((await get(g.url, '/metrics', from, `guess-${i}`)).status).toBe(401)
    expectThrottled(await get(g.url, '/admin/keys', from, ATTACK_ADMIN))
  })

  it('the Usage API takes the admin key, so it shares the count; a client key there is not a guess', async () => {
    const usage = '/v1/organization/usage/completions?start_time=1767225600'
    for (let i = 0; i < 20; i++) expect((await get(g.url, usage, '127.0.0.5', ATTACK_KEY)).status).toBe(403)
    expect((await get(g.url, usage, '127.0.0.5', ATTACK_ADMIN)).status).toBe(200)
    for (let i = 0; i < 10; i++) expect((await get(g.url, usage, '127.0.0.6', `guess-${i}`)).status).toBe(401)
    expectThrottled(await get(g.url, usage, '127.0.0.6', ATTACK_ADMIN))
    expectThrottled(await get(g.url, '/admin/keys', '127.0.0.6', ATTACK_ADMIN))
  })
})
