import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, startGateway, tempDataDir, type TestGateway } from '../helpers/gateway.js'
import { adminCall, createKey } from '../admin/admin-client.js'
import { createTeam, type StoreUnderTest } from '../teams/teams-contract.js'

async function audit (gw: TestGateway, query = ''): Promise<any[]> {
  const r = await adminCall(gw, 'GET', '/audit' + query)
  if (r.status !== 200) throw new Error(`audit: ${r.status} ${r.text}`)
  expect(r.json.object).toBe('list')
  return r.json.data
}

/** Every admin change in the audit log, over one store, across a restart. */
export function auditContract (label: string, setup: () => Promise<StoreUnderTest>): void {
  describe(`the audit log on ${label}`, () => {
    let gw: TestGateway
    let store: StoreUnderTest
    let overrides: Record<string, unknown>
    beforeAll(async () => {
      store = await setup()
      overrides = { DATA_DIR: tempDataDir(), ...store.overrides }
      gw = await startGateway(overrides)
    })
    afterAll(async () => {
      await gw?.close()
      await store?.stop()
    })

    it('records every key and team change with before/after values, never a secret, newest first', async () => {
      const t = await createTeam(gw, { name: 'audited', budget_usd: 50 })
      await adminCall(gw, 'PATCH', `/teams/${t.id}`, { budget_usd: 75 })
      const k = await createKey(gw, { name: 'audited-key', rpm: 10, team_id: t.id })
      await adminCall(gw, 'PATCH', `/keys/${k.id}`, { rpm: 20, name: 'audited-key-2' })
      const rotated = (await adminCall(gw, 'POST', `/keys/${k.id}/rotate`, { grace_seconds: 60 })).json
      await adminCall(gw, 'DELETE', `/keys/${k.id}`)
      await adminCall(gw, 'DELETE', `/keys/${k.id}`) // again: no change, no entry
      await adminCall(gw, 'DELETE', `/teams/${t.id}`)

      const all = await audit(gw)
      expect(all.map((e) => e.action)).toEqual(['team.delete', 'key.revoke', 'key.rotate', 'key.update', 'key.create', 'team.update', 'team.create'])
      const text = JSON.stringify(all)
      expect(text).not.toContain(k.key)
      expect(text).not.toContain(rotated.key)
      expect(text).not.toContain(ADMIN_KEY)
      for (const e of all) {
        expect(e).toMatchObject({ id: expect.stringMatching(/^aud_/), actor: 'admin_api', request_id: expect.stringMatching(/^req_/), ip: '127.0.0.1' })
        expect(Date.parse(e.at)).toBeGreaterThan(Date.now() - 60_000)
      }
      const [teamDelete, revoke, rotate, update, create, teamUpdate, teamCreate] = all
      expect(teamCreate).toMatchObject({ target_type: 'team', target_id: t.id, changes: { name: [null, 'audited'], budget_usd: [null, 50] } })
      expect(teamUpdate.changes).toEqual({ budget_usd: [50, 75] })
      expect(create).toMatchObject({ target_type: 'key', target_id: k.id, changes: { name: [null, 'audited-key'], rpm: [null, 10], team_id: [null, t.id], key_prefix: [null, k.key.slice(0, 8)] } })
      expect(update.changes).toEqual({ rpm: [10, 20], name: ['audited-key', 'audited-key-2'] })
      expect(rotate.changes).toEqual({ key_prefix: [k.key.slice(0, 8), rotated.key.slice(0, 8)], grace_seconds: [null, 60] })
      expect(revoke.changes).toMatchObject({ revoked: [false, true], revoked_at: [null, expect.any(String)] })
      expect(teamDelete).toMatchObject({ target_id: t.id, changes: { name: ['audited', null] } })
    })

    it('names the admin tool from x-gateway-actor (cli, ui; anything else is admin_api)', async () => {
      for (const [actor, expected] of [['cli', 'cli'], ['ui', 'ui'], ['root', 'admin_api']] as const) {
        const r = await fetch(`${gw.url}/admin/teams`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', 'x-gateway-actor': actor }, body: JSON.stringify({ name: `by-${actor}` }) })
        expect(r.status).toBe(201)
        const { id } = await r.json() as { id: string }
        const [entry] = await audit(gw, `?target_id=${id}`)
        expect(entry.actor).toBe(expected)
      }
      // Without the admin key the header buys nothing.
      const anon = await fetch(`${gw.url}/admin/teams`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-gateway-actor': 'cli' }, body: JSON.stringify({ name: 'anon' }) })
      expect(anon.status).toBe(401)
    })

    it('filters by target_id, action and time, and refuses bad filters', async () => {
      const k = await createKey(gw, { name: 'filtered' })
      await adminCall(gw, 'PATCH', `/keys/${k.id}`, { rpm: 1 })
      await adminCall(gw, 'PATCH', `/keys/${k.id}`, { rpm: 2 })
      const mine = await audit(gw, `?target_id=${k.id}`)
      expect(mine.map((e) => e.action)).toEqual(['key.update', 'key.update', 'key.create'])
      expect(mine[0].changes).toEqual({ rpm: [1, 2] })
      const updates = await audit(gw, `?target_id=${k.id}&action=key.update`)
      expect(updates).toHaveLength(2)
      const today = new Date().toISOString().slice(0, 10)
      expect(await audit(gw, `?target_id=${k.id}&from=${today}&to=${today}`)).toHaveLength(3)
      expect(await audit(gw, `?target_id=${k.id}&to=2020-01-01`)).toHaveLength(0)
      expect(await audit(gw, `?target_id=${k.id}&from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toHaveLength(0)
      expect(await audit(gw, '?limit=1')).toHaveLength(1)
      const bad = await adminCall(gw, 'GET', '/audit?action=key.explode')
      expect(bad.status).toBe(400)
      expect(bad.json.error.param).toBe('action')
      expect((await adminCall(gw, 'GET', '/audit?from=yesterday')).json.error.param).toBe('from')
      expect((await adminCall(gw, 'GET', '/audit', undefined, null)).status).toBe(401)
    })

    it('survives a restart', async () => {
      const before = await audit(gw)
      await gw.close()
      gw = await startGateway(overrides)
      const after = await audit(gw)
      expect(after).toEqual(before)
    })
  })
}
