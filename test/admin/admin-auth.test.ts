import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { adminCall } from './admin-client.js'

describe('the admin key guards /admin/keys', () => {
  let gw: TestGateway
  let off: TestGateway
  beforeAll(async () => {
    gw = await startGateway()
    off = await startGateway({ ADMIN_KEY: undefined })
  })
  afterAll(async () => {
    await gw?.close()
    await off?.close()
  })

  it('answers 401 in OpenAI shape for a missing, wrong or client key', async () => {
    for (const key of [null, 'admin-wrong-key-000000000', TEST_KEY]) {
      for (const [method, path, body] of [['GET', '/keys'], ['POST', '/keys', { name: 'x' }], ['DELETE', '/keys/key_1']] as const) {
        const r = await adminCall(gw, method, path, body, key)
        expect(r.status).toBe(401)
        expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_admin_key' })
      }
    }
    expect((await adminCall(gw, 'GET', '/keys')).json.data.map((k: { name: string }) => k.name)).toEqual(['test'])
  })

  it('answers 403 saying how to enable it when ADMIN_KEY is not set', async () => {
    const r = await adminCall(off, 'GET', '/keys')
    expect(r.status).toBe(403)
    expect(r.json.error.message).toContain('ADMIN_KEY')
  })

  it('refuses a body that is not JSON', async () => {
    const r = await fetch(`${gw.url}/admin/keys`, { method: 'POST', headers: { authorization: 'Bearer admin-test-key-0123456789', 'content-type': 'application/json' }, body: '{"name":' })
    expect(r.status).toBe(400)
    const arr = await adminCall(gw, 'POST', '/keys', [{ name: 'x' }])
    expect(arr.status).toBe(400)
  })
})
