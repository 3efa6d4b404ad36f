import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { hashKey } from '../../src/auth/key-record.js'
import { startGateway, TEST_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'
import { adminCall, createKey, HI, MODEL } from './admin-client.js'

/** A store to run the contract against: config overrides, and how to stop its servers. */
export interface StoreUnderTest {
  overrides: Record<string, unknown>
  stop (): Promise<void>
}

/**
 * The admin API and the client API over one key store: every store (SQLite, Redis,
 * Redis Cluster) must pass the same tests.
 */
export function keyStoreContract (label: string, setup: () => Promise<StoreUnderTest>): void {
  describe(`virtual keys on ${label}`, () => {
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

    it('creates a key that works at once and is shown only once', async () => {
      const created = await createKey(gw, { name: 'alice', rpm: 60, budget_usd: 12.5, models: ['gpt-5.2*'], metadata: { team: 'search' } })
      expect(created.key).toMatch(/^sk-[A-Za-z0-9_-]{43}$/)
      expect(created).toMatchObject({ name: 'alice', key_prefix: created.key.slice(0, 8), rpm: 60, tpm: null, budget_usd: 12.5, budget_period: 'month', models: ['gpt-5.2*'], metadata: { team: 'search' }, revoked: false, read_only: false })
      const r = await gw.client(created.key).chat.completions.create({ model: MODEL, messages: HI })
      expect(r.choices[0]!.message.content).toContain('Hello from the mock upstream')

      const got = await adminCall(gw, 'GET', `/keys/${created.id}`)
      expect(got.status).toBe(200)
      expect(got.json).toMatchObject({ id: created.id, name: 'alice', rpm: 60 })
      expect(got.json.key).toBeUndefined()
    })

    it('lists keys, static ones read-only, never with a secret or a hash', async () => {
      const created = await createKey(gw, { name: 'bob' })
      const list = await adminCall(gw, 'GET', '/keys')
      expect(list.status).toBe(200)
      expect(list.json.object).toBe('list')
      const names = list.json.data.map((k: { name: string }) => k.name)
      expect(names).toEqual(expect.arrayContaining(['test', 'alice', 'bob']))
      expect(list.json.data.find((k: { name: string }) => k.name === 'test')).toMatchObject({ read_only: true, revoked: false })
      for (const secret of [created.key, TEST_KEY]) {
        expect(list.text).not.toContain(secret)
        expect(list.text).not.toContain(hashKey(secret))
      }
      for (const entry of list.json.data) {
        expect(Object.keys(entry)).not.toContain('key')
        expect(Object.keys(entry)).not.toContain('key_hash')
        expect(entry.key_prefix.length).toBeLessThanOrEqual(8)
      }
    })

    it('refuses bad fields with a 400 naming the field, unknown ids with 404, taken names with 409', async () => {
      const bad = await adminCall(gw, 'POST', '/keys', { name: 'carol', rpm: -5 })
      expect(bad.status).toBe(400)
      expect(bad.json.error).toMatchObject({ type: 'invalid_request_error', param: 'rpm' })
      const typo = await adminCall(gw, 'POST', '/keys', { name: 'carol', rmp: 5 })
      expect(typo.status).toBe(400)
      expect(typo.json.error.param).toBe('rmp')
      const noName = await adminCall(gw, 'POST', '/keys', {})
      expect(noName.json.error.param).toBe('name')
      const period = await adminCall(gw, 'POST', '/keys', { name: 'carol', budget_period: 'week' })
      expect(period.json.error.param).toBe('budget_period')

      const missing = await adminCall(gw, 'GET', '/keys/key_nope')
      expect(missing.status).toBe(404)
      expect(missing.json.error.message).toContain('key_nope')
      expect((await adminCall(gw, 'PATCH', '/keys/key_nope', { rpm: 1 })).status).toBe(404)
      expect((await adminCall(gw, 'DELETE', '/keys/key_nope')).status).toBe(404)

      await createKey(gw, { name: 'dave' })
      const dup = await adminCall(gw, 'POST', '/keys', { name: 'dave' })
      expect(dup.status).toBe(409)
      expect(dup.json.error.param).toBe('name')
      expect((await adminCall(gw, 'POST', '/keys', { name: 'test' })).status).toBe(409)
    })

    it('applies a patch to the next request: allow-list, limits, rename', async () => {
      const k = await createKey(gw, { name: 'erin' })
      await gw.client(k.key).chat.completions.create({ model: 'gpt-5-mini', messages: HI })
      const patched = await adminCall(gw, 'PATCH', `/keys/${k.id}`, { models: ['gpt-5.2*'], tpm: 1000, name: 'erin2' })
      expect(patched.status).toBe(200)
      expect(patched.json).toMatchObject({ name: 'erin2', models: ['gpt-5.2*'], tpm: 1000, rpm: null })
      const err = await gw.client(k.key).chat.completions.create({ model: 'gpt-5-mini', messages: HI }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError)
      expect((err as InstanceType<typeof OpenAI.PermissionDeniedError>).code).toBe('model_not_allowed')
      await gw.client(k.key).chat.completions.create({ model: MODEL, messages: HI })

      const cleared = await adminCall(gw, 'PATCH', `/keys/${k.id}`, { models: null, tpm: null })
      expect(cleared.json).toMatchObject({ models: null, tpm: null, name: 'erin2' })
      expect((await adminCall(gw, 'PATCH', `/keys/${k.id}`, { name: 'dave' })).status).toBe(409)
      expect((await adminCall(gw, 'PATCH', `/keys/${k.id}`, { expires_at: 'tomorrow' })).json.error.param).toBe('expires_at')
    })

    it('revokes a key: 401 invalid_api_key through the SDK, its name free again', async () => {
      const k = await createKey(gw, { name: 'frank' })
      await gw.client(k.key).chat.completions.create({ model: MODEL, messages: HI })
      const revoked = await adminCall(gw, 'DELETE', `/keys/${k.id}`)
      expect(revoked.status).toBe(200)
      expect(revoked.json).toMatchObject({ id: k.id, revoked: true })
      const err = await gw.client(k.key).chat.completions.create({ model: MODEL, messages: HI }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
      expect((err as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key')
      expect(JSON.stringify(err)).not.toContain(k.key)

      expect((await adminCall(gw, 'DELETE', `/keys/${k.id}`)).json.revoked_at).toBe(revoked.json.revoked_at)
      expect((await adminCall(gw, 'PATCH', `/keys/${k.id}`, { rpm: 5 })).status).toBe(409)
      const again = await createKey(gw, { name: 'frank' })
      expect(again.id).not.toBe(k.id)
      const logs = gw.logs.join('')
      for (const secret of [k.key, again.key]) {
        expect(logs).not.toContain(secret)
        expect(logs).not.toContain(hashKey(secret))
      }
    })

    it('refuses expired keys with 401 invalid_api_key', async () => {
      const past = await createKey(gw, { name: 'gina', expires_at: '2020-01-01T00:00:00Z' })
      const err = await gw.client(past.key).models.list().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
      expect((err as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key')

      const soon = await createKey(gw, { name: 'hank', expires_at: new Date(Date.now() + 1500).toISOString() })
      await gw.client(soon.key).chat.completions.create({ model: MODEL, messages: HI })
      await waitFor(async () => {
        const e = await gw.client(soon.key).chat.completions.create({ model: MODEL, messages: HI }).catch((x: unknown) => x)
        return e instanceof OpenAI.AuthenticationError
      })
    })

    it('keeps config-file keys read-only', async () => {
      const list = await adminCall(gw, 'GET', '/keys')
      const fixed = list.json.data.find((k: { name: string }) => k.name === 'test')
      expect((await adminCall(gw, 'GET', `/keys/${fixed.id}`)).json.name).toBe('test')
      const patch = await adminCall(gw, 'PATCH', `/keys/${fixed.id}`, { rpm: 1 })
      expect(patch.status).toBe(409)
      expect(patch.json.error.code).toBe('read_only')
      expect((await adminCall(gw, 'DELETE', `/keys/${fixed.id}`)).status).toBe(409)
      await gw.client().chat.completions.create({ model: MODEL, messages: HI })
    })

    it('lists only the models a key may use', async () => {
      const k = await createKey(gw, { name: 'ivy', models: ['gpt-5.2*', 'text-embedding-3-small'] })
      const models = await gw.client(k.key).models.list()
      expect(models.data.map((m) => m.id).sort()).toEqual(['gpt-5.2', 'gpt-5.2-chat-latest', 'text-embedding-3-small'])
      const all = await gw.client().models.list()
      expect(all.data.length).toBe(5)
      const one = await gw.client(k.key).models.retrieve('gpt-5-mini').catch((e: unknown) => e)
      expect(one).toBeInstanceOf(OpenAI.PermissionDeniedError)
    })
  })
}
