import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { startGateway, TEST_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'
import { adminCall, createKey, HI, MODEL } from '../admin/admin-client.js'
import { createTeam, type StoreUnderTest } from './teams-contract.js'

async function works (gw: TestGateway, secret: string): Promise<boolean> {
  const r = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, messages: HI }) })
  await r.arrayBuffer()
  if (r.status !== 200 && r.status !== 401) throw new Error(`unexpected ${r.status}`)
  return r.status === 200
}

/** Key rotation and GET /key/info over one store. */
export function rotationContract (label: string, setup: () => Promise<StoreUnderTest>): void {
  describe(`key rotation and /key/info on ${label}`, () => {
    let gw: TestGateway
    let store: StoreUnderTest
    beforeAll(async () => {
      store = await setup()
      gw = await startGateway(store.overrides)
    })
    afterAll(async () => {
      await gw?.close()
      await store?.stop()
    })

    it('gives a new secret with the same id, name, limits, team and spend; the old one stops at once by default', async () => {
      const team = await createTeam(gw, { name: `rot-${label}` })
      const k = await createKey(gw, { name: 'rotating', rpm: 100, budget_usd: 5, models: ['gpt-5.2*'], team_id: team.id })
      expect(await works(gw, k.key)).toBe(true)
      const r = await adminCall(gw, 'POST', `/keys/${k.id}/rotate`, {})
      expect(r.status).toBe(200)
      const rotated = r.json
      expect(rotated.key).toMatch(/^sk-[A-Za-z0-9_-]{43}$/)
      expect(rotated.key).not.toBe(k.key)
      expect(rotated).toMatchObject({ id: k.id, name: 'rotating', rpm: 100, budget_usd: 5, models: ['gpt-5.2*'], team_id: team.id, key_prefix: rotated.key.slice(0, 8), previous_key_expires_at: null })
      expect(await works(gw, k.key)).toBe(false)
      expect(await works(gw, rotated.key)).toBe(true)
      // Spend belongs to the key id: both requests count.
      const info = await fetch(`${gw.url}/key/info`, { headers: { authorization: `Bearer ${rotated.key}` } }).then(async (x) => await x.json() as any)
      expect(info.budget.spent_usd).toBeCloseTo(2 * 0.006265, 9)
      const listed = (await adminCall(gw, 'GET', `/keys/${k.id}`)).json
      expect(listed.key).toBeUndefined()
      expect(listed.key_prefix).toBe(rotated.key.slice(0, 8))
    })

    it('keeps the old secret working for grace_seconds, then refuses it; a second rotation ends the first grace', async () => {
      const k = await createKey(gw, { name: 'graceful' })
      expect(await works(gw, k.key)).toBe(true)
      const r = await adminCall(gw, 'POST', `/keys/${k.id}/rotate`, { grace_seconds: 4 })
      expect(r.status).toBe(200)
      expect(Date.parse(r.json.previous_key_expires_at)).toBeGreaterThan(Date.now())
      expect(await works(gw, r.json.key)).toBe(true)
      expect(await works(gw, k.key)).toBe(true)
      await waitFor(async () => !(await works(gw, k.key)), 20_000, 200)
      expect(await works(gw, r.json.key)).toBe(true)

      const again = await adminCall(gw, 'POST', `/keys/${k.id}/rotate`, { grace_seconds: 3600 })
      const third = await adminCall(gw, 'POST', `/keys/${k.id}/rotate`, { grace_seconds: 3600 })
      expect(await works(gw, r.json.key)).toBe(false)
      expect(await works(gw, again.json.key)).toBe(true)
      expect(await works(gw, third.json.key)).toBe(true)
    })

    it('refuses a grace over 7 days, unknown, revoked and config-file keys', async () => {
      const k = await createKey(gw, { name: 'edge' })
      const long = await adminCall(gw, 'POST', `/keys/${k.id}/rotate`, { grace_seconds: 7 * 86_400 + 1 })
      expect(long.status).toBe(400)
      expect(long.json.error.param).toBe('grace_seconds')
      expect((await adminCall(gw, 'POST', `/keys/${k.id}/rotate`, { grace_seconds: 7 * 86_400 })).status).toBe(200)
      expect((await adminCall(gw, 'POST', '/keys/key_nope/rotate', {})).status).toBe(404)
      await adminCall(gw, 'DELETE', `/keys/${k.id}`)
      expect((await adminCall(gw, 'POST', `/keys/${k.id}/rotate`, {})).json.error.code).toBe('key_revoked')
      const statics = (await adminCall(gw, 'GET', '/keys')).json.data.find((x: { name: string }) => x.name === 'test')
      expect((await adminCall(gw, 'POST', `/keys/${statics.id}/rotate`)).json.error.code).toBe('read_only')
    })

    it('answers GET /key/info with the caller\'s limits, team and budgets, never a secret', async () => {
      const team = await createTeam(gw, { name: `info-${label}`, budget_usd: 100, budget_period: 'day', models: ['gpt-5.2*'] })
      const k = await createKey(gw, { name: 'info', rpm: 60, tpm: 100_000, max_concurrency: 3, budget_usd: 1, budget_period: 'month', models: ['gpt-5.2-chat-latest'], team_id: team.id, expires_at: '2099-01-01T00:00:00Z' })
      await gw.client(k.key).chat.completions.create({ model: MODEL, messages: HI })
      const res = await fetch(`${gw.url}/key/info`, { headers: { authorization: `Bearer ${k.key}` } })
      expect(res.status).toBe(200)
      const text = await res.text()
      expect(text).not.toContain(k.key)
      expect(text).not.toContain(k.key.slice(8))
      const info = JSON.parse(text)
      const now = new Date()
      expect(info).toMatchObject({
        id: k.id,
        name: 'info',
        key_prefix: k.key.slice(0, 8),
        team: { id: team.id, name: `info-${label}` },
        models: ['gpt-5.2-chat-latest'],
        rpm: 60,
        tpm: 100_000,
        max_concurrency: 3,
        expires_at: '2099-01-01T00:00:00.000Z',
        budget: { usd: 1, period: 'month', spent_usd: 0.006265, remaining_usd: 0.993735, resets_at: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString() },
        team_budget: { usd: 100, period: 'day', spent_usd: 0.006265, remaining_usd: 99.993735, resets_at: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString() }
      })
      expect(Object.keys(info)).not.toContain('key')
      expect(Object.keys(info)).not.toContain('key_hash')

      const plain = await fetch(`${gw.url}/key/info`, { headers: { authorization: `Bearer ${TEST_KEY}` } }).then(async (x) => await x.json() as any)
      expect(plain).toMatchObject({ name: 'test', team: null, budget: null, team_budget: null, rpm: null })
    })

    it('refuses /key/info without a valid client key', async () => {
      const none = await fetch(`${gw.url}/key/info`)
      expect(none.status).toBe(401)
      expect((await none.json() as any).error.code).toBe('invalid_api_key')
      const wrong = await fetch(`${gw.url}/key/info`, { headers: { authorization: 'Bearer sk-not-a-key-0000000000000000000000000000000000' } })
      expect(wrong.status).toBe(401)
      const err = await gw.client('sk-nope').models.list().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
    })
  })
}
