import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js'

const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

async function getMetrics (gw: TestGateway, authorization?: string): Promise<Response> {
  return await fetch(`${gw.url}/metrics`, { headers: authorization === undefined ? {} : { authorization } })
}

describe('/metrics with METRICS_TOKEN set', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway({ METRICS_TOKEN }) })
  afterAll(async () => { await gw.close() })

  it('answers the metrics token and the admin key with the Prometheus text format', async () => {
    for (const token of [METRICS_TOKEN, ADMIN_KEY]) {
      const res = await getMetrics(gw, `Bearer ${token}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(res.headers.get('x-request-id')).toMatch(/\S/)
      const text = await res.text()
      expect(text).toContain('# TYPE gateway_requests_total counter')
      expect(text).toContain('# TYPE gateway_request_duration_seconds histogram')
    }
  })

  it('gives an OpenAI-shaped 401 to no token, a wrong token, a client key and a non-bearer scheme', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token', `Bearer ${TEST_KEY}`, `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}`, `Bearer ${METRICS_TOKEN}x`, `Bearer ${METRICS_TOKEN.slice(0, -1)}`]) {
      const res = await getMetrics(gw, authorization)
      expect(res.status, String(authorization)).toBe(401)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      const body = await res.json() as { error: { message: string, type: string, param: unknown, code: string } }
      expect(body).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'invalid_api_key' } })
      // The refusal never echoes what was sent.
      expect(JSON.stringify(body)).not.toContain(TEST_KEY)
      expect(JSON.stringify(body)).not.toContain(METRICS_TOKEN)
    }
  })

  it('keeps /healthz and /readyz open for probes', async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200)
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200)
  })
})

describe('/metrics without METRICS_TOKEN', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway() })
  afterAll(async () => { await gw.close() })

  it('answers without credentials (and with any)', async () => {
    for (const authorization of [undefined, `Bearer ${TEST_KEY}`]) {
      const res = await getMetrics(gw, authorization)
      expect(res.status).toBe(200)
      expect(await res.text()).toContain('gateway_active_streams 0')
    }
  })
})
