import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { adminCall, createKey, HI, MODEL } from '../admin/admin-client.js'

/** A store to run the contract against: config overrides, and how to stop its servers. */
export interface StoreUnderTest {
  overrides: Record<string, unknown>
  stop (): Promise<void>
}

export async function createTeam (gw: TestGateway, body: Record<string, unknown>): Promise<{ id: string, name: string, [k: string]: any }> {
  const r = await adminCall(gw, 'POST', '/teams', body)
  if (r.status !== 201) throw new Error(`create team: ${r.status} ${r.text}`)
  return r.json
}

/** The teams admin API and its effect on keys, over one store: every store must pass it. */
export function teamStoreContract (label: string, setup: () => Promise<StoreUnderTest>): void {
  describe(`teams on ${label}`, () => {
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

    it('creates, lists, shows and patches a team; names are unique', async () => {
      const t = await createTeam(gw, { name: 'search', budget_usd: 500, rpm: 600, models: ['gpt-5.2*'], metadata: { cost_center: '42' } })
      expect(t).toMatchObject({ id: expect.stringMatching(/^team_[0-9a-f]{24}$/), object: 'gateway.team', name: 'search', budget_usd: 500, budget_period: 'month', rpm: 600, tpm: null, max_concurrency: null, models: ['gpt-5.2*'], metadata: { cost_center: '42' } })

      const taken = await adminCall(gw, 'POST', '/teams', { name: 'search' })
      expect(taken.status).toBe(409)
      expect(taken.json.error).toMatchObject({ code: 'conflict', param: 'name' })

      const list = await adminCall(gw, 'GET', '/teams')
      expect(list.json.object).toBe('list')
      expect(list.json.data.map((x: { name: string }) => x.name)).toContain('search')

      const patched = await adminCall(gw, 'PATCH', `/teams/${t.id}`, { rpm: null, budget_period: 'day' })
      expect(patched.status).toBe(200)
      expect(patched.json).toMatchObject({ id: t.id, rpm: null, budget_usd: 500, budget_period: 'day' })
      expect((await adminCall(gw, 'GET', `/teams/${t.id}`)).json).toMatchObject({ rpm: null, budget_period: 'day' })

      const other = await createTeam(gw, { name: 'ads' })
      const rename = await adminCall(gw, 'PATCH', `/teams/${other.id}`, { name: 'search' })
      expect(rename.status).toBe(409)
    })

    it('refuses bad fields with 400, unknown teams with 404', async () => {
      const typo = await adminCall(gw, 'POST', '/teams', { name: 'x', rmp: 5 })
      expect(typo.status).toBe(400)
      expect(typo.json.error.param).toBe('rmp')
      const negative = await adminCall(gw, 'POST', '/teams', { name: 'y', budget_usd: -3 })
      expect(negative.status).toBe(400)
      expect(negative.json.error.param).toBe('budget_usd')
      for (const [method, body] of [['GET', undefined], ['PATCH', { rpm: 5 }], ['DELETE', undefined]] as const) {
        const r = await adminCall(gw, method, '/teams/team_nope', body)
        expect(r.status).toBe(404)
        expect(r.json.error.message).toBe('No team with id team_nope.')
      }
    })

    it('puts keys in a team with team_id and takes them out with null; unknown teams are 404', async () => {
      const t = await createTeam(gw, { name: 'infra' })
      const k = await createKey(gw, { name: 'infra-bot', team_id: t.id })
      expect(k.team_id).toBe(t.id)
      const unknown = await adminCall(gw, 'POST', '/keys', { name: 'lost', team_id: 'team_nope' })
      expect(unknown.status).toBe(404)
      expect(unknown.json.error.param).toBe('team_id')
      const out = await adminCall(gw, 'PATCH', `/keys/${k.id}`, { team_id: null })
      expect(out.json.team_id).toBeNull()
      const back = await adminCall(gw, 'PATCH', `/keys/${k.id}`, { team_id: t.id })
      expect(back.json.team_id).toBe(t.id)
      expect((await adminCall(gw, 'PATCH', `/keys/${k.id}`, { team_id: 'team_gone' })).status).toBe(404)
    })

    it('deletes a team only when none of its keys is active (409 team_not_empty)', async () => {
      const t = await createTeam(gw, { name: 'ephemeral' })
      const k = await createKey(gw, { name: 'ephemeral-1', team_id: t.id })
      const refused = await adminCall(gw, 'DELETE', `/teams/${t.id}`)
      expect(refused.status).toBe(409)
      expect(refused.json.error).toMatchObject({ code: 'team_not_empty', type: 'invalid_request_error' })
      await adminCall(gw, 'DELETE', `/keys/${k.id}`)
      const deleted = await adminCall(gw, 'DELETE', `/teams/${t.id}`)
      expect(deleted.status).toBe(200)
      expect(deleted.json).toMatchObject({ id: t.id, deleted: true })
      expect((await adminCall(gw, 'GET', `/teams/${t.id}`)).status).toBe(404)
      // The name is free again.
      await createTeam(gw, { name: 'ephemeral' })
    })

    it("bounds its keys' models by the team's: a model must be allowed by both, and a change applies to the next request", async () => {
      const t = await createTeam(gw, { name: 'narrow', models: ['gpt-5.2*'] })
      const k = await createKey(gw, { name: 'narrow-1', team_id: t.id, models: ['gpt-5.2*', 'gpt-4o'] })
      const client = gw.client(k.key)
      await expect(client.chat.completions.create({ model: MODEL, messages: HI })).resolves.toBeDefined()
      const err = await client.chat.completions.create({ model: 'gpt-4o', messages: HI }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError)
      expect((err as InstanceType<typeof OpenAI.PermissionDeniedError>).code).toBe('model_not_allowed')

      await adminCall(gw, 'PATCH', `/teams/${t.id}`, { models: null })
      await expect(client.chat.completions.create({ model: 'gpt-4o', messages: HI })).resolves.toBeDefined()
      await adminCall(gw, 'PATCH', `/teams/${t.id}`, { models: ['gpt-4o'] })
      const now = await client.chat.completions.create({ model: MODEL, messages: HI }).catch((e: unknown) => e)
      expect(now).toBeInstanceOf(OpenAI.PermissionDeniedError)
      // Leaving the team lifts the team's bound.
      await adminCall(gw, 'PATCH', `/keys/${k.id}`, { team_id: null })
      await expect(client.chat.completions.create({ model: MODEL, messages: HI })).resolves.toBeDefined()
    })

    it('keeps admin routes behind the admin key', async () => {
      expect((await adminCall(gw, 'GET', '/teams', undefined, null)).status).toBe(401)
      expect((await adminCall(gw, 'GET', '/teams', undefined, TEST_KEY)).status).toBe(401)
    })
  })
}
