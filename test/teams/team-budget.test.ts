import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, startGateway, startGatewayPair, waitFor, type GatewayPair, type TestGateway } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'
import { adminCall, createKey, HI, MODEL } from '../admin/admin-client.js'
import { createTeam } from './teams-contract.js'

const ONE_USD = 0.006265 // one mock answer on gpt-5.2-chat-latest

async function chat (gw: TestGateway, secret: string): Promise<{ status: number, scope: string | null, code: string | undefined }> {
  const r = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, messages: HI, max_tokens: 600 }) })
  const body = await r.json() as { error?: { code?: string } }
  return { status: r.status, scope: r.headers.get('x-gateway-limit-scope'), code: body.error?.code }
}

async function teamSpentUsd (gw: TestGateway, teamId: string): Promise<number> {
  const r = await adminCall(gw, 'GET', `/usage?group_by=team&team_id=${teamId}`)
  return r.json.total_cost_usd as number
}

describe('a team budget shared by two keys', () => {
  let gw: TestGateway
  beforeAll(async () => { gw = await startGateway() })
  afterAll(async () => { await gw?.close() })

  it('refuses both keys once the team has spent its budget, naming the team as the scope', async () => {
    const team = await createTeam(gw, { name: 'capped', budget_usd: 0.012, budget_period: 'day' })
    const a = await createKey(gw, { name: 'capped-a', team_id: team.id })
    const b = await createKey(gw, { name: 'capped-b', team_id: team.id })
    const results = []
    for (const k of [a, b, a, b]) results.push(await chat(gw, k.key))
    expect(results.slice(0, 2).map((r) => r.status)).toEqual([200, 200])
    for (const r of results.slice(2)) expect(r).toEqual({ status: 429, scope: 'team', code: 'insufficient_quota' })
    // A key outside the team is not concerned.
    const solo = await createKey(gw, { name: 'uncapped' })
    expect((await chat(gw, solo.key)).status).toBe(200)
    const info = await fetch(`${gw.url}/key/info`, { headers: { authorization: `Bearer ${a.key}` } }).then(async (x) => await x.json() as any)
    expect(info.team_budget).toMatchObject({ usd: 0.012, spent_usd: 2 * ONE_USD, remaining_usd: 0 })
    const metrics = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }).then(async (x) => await x.text())
    expect(metrics).toMatch(/gateway_team_cost_usd_total\{team="capped",model="gpt-5.2-chat-latest"\} 0.01253/)
    expect(metrics).toMatch(/gateway_budget_remaining_usd\{scope="team",name="capped"\} 0\b/)
  })
})

describe('a team budget on two instances sharing Redis', () => {
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

  it('is not passed by more than one request per instance however many arrive at once', async () => {
    const { a, b } = pair
    const budget = 0.02
    const team = await createTeam(a, { name: 'shared', budget_usd: budget })
    const keys = await Promise.all([0, 1, 2, 3].map(async (i) => await createKey(i % 2 === 0 ? a : b, { name: `shared-${i}`, team_id: team.id })))
    const burst = await Promise.all(Array.from({ length: 24 }, async (_, i) => await chat(i % 2 === 0 ? a : b, keys[i % 4]!.key)))
    const ok = burst.filter((r) => r.status === 200).length
    expect(ok).toBeGreaterThan(0)
    for (const r of burst.filter((x) => x.status !== 200)) expect(r).toEqual({ status: 429, scope: 'team', code: 'insufficient_quota' })
    await waitFor(async () => Math.abs(await teamSpentUsd(b, team.id) - ok * ONE_USD) < 1e-9, 10_000, 100)
    expect(ok * ONE_USD).toBeLessThanOrEqual(budget + 2 * ONE_USD + 1e-9)
  })
})
