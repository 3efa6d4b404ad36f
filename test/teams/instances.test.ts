import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGatewayPair, waitFor, type GatewayPair, type TestGateway } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'
import { adminCall, createKey, HI, MODEL } from '../admin/admin-client.js'
import { createTeam } from './teams-contract.js'

async function status (gw: TestGateway, secret: string, model = MODEL): Promise<number> {
  const r = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: HI }) })
  await r.arrayBuffer()
  return r.status
}

describe('two gateway instances on one Redis', () => {
  let redis: PrivateRedis
  let pair: GatewayPair
  beforeAll(async () => {
    redis = await startRedis()
    pair = await startGatewayPair({ REDIS_URL: redis.url })
  })
  afterAll(async () => {
    await pair?.close()
    await redis?.stop()
  })

  it('refuses a rotated secret on the other instance within a second (grace 0), while the new one works there', async () => {
    const { a, b } = pair
    const k = await createKey(a, { name: 'two-rot' })
    // Both instances have the old secret cached.
    expect(await status(a, k.key)).toBe(200)
    expect(await status(b, k.key)).toBe(200)
    const rotated = (await adminCall(a, 'POST', `/keys/${k.id}/rotate`, {})).json
    await waitFor(async () => await status(b, k.key) === 401, 5_000, 50)
    expect(await status(a, k.key)).toBe(401)
    expect(await status(b, rotated.key)).toBe(200)
  })

  it('honours the grace period on every instance, then refuses the old secret on every instance', async () => {
    const { a, b } = pair
    const k = await createKey(a, { name: 'two-grace' })
    expect(await status(b, k.key)).toBe(200)
    const rotated = (await adminCall(a, 'POST', `/keys/${k.id}/rotate`, { grace_seconds: 4 })).json
    expect(await status(b, k.key)).toBe(200)
    expect(await status(a, k.key)).toBe(200)
    expect(await status(b, rotated.key)).toBe(200)
    await waitFor(async () => await status(b, k.key) === 401 && await status(a, k.key) === 401, 20_000, 200)
    expect(await status(a, rotated.key)).toBe(200)
  })

  it("applies a team's change made on one instance to the other's next requests", async () => {
    const { a, b } = pair
    const t = await createTeam(a, { name: 'two-team', models: ['gpt-5.2*'] })
    const k = await createKey(a, { name: 'two-team-1', team_id: t.id })
    expect(await status(b, k.key, 'gpt-4o')).toBe(403)
    expect(await status(b, k.key)).toBe(200)
    await adminCall(a, 'PATCH', `/teams/${t.id}`, { models: ['gpt-4o'] })
    await waitFor(async () => await status(b, k.key, 'gpt-4o') === 200, 5_000, 50)
    expect(await status(b, k.key)).toBe(403)
    // A team made on A is known to B at once for a key that joins it.
    const t2 = await createTeam(a, { name: 'two-team-2', models: ['gpt-4o'] })
    const k2 = await createKey(b, { name: 'two-team-2-1', team_id: t2.id })
    expect(await status(a, k2.key)).toBe(403)
    expect(await status(b, k2.key)).toBe(403)
  })
})
