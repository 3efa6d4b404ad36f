import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { ADMIN_KEY, startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { adminCall, createKey, HI, MODEL } from '../admin/admin-client.js'
import { createTeam } from './teams-contract.js'

// The mock upstream reports 1,000 input (600 cached) + 500 output tokens per answer. On
// gpt-5.2-chat-latest at $1.40 / $0.175 / $11.20 per 1M tokens one request costs
// 400 × 1.40 + 600 × 0.175 + 500 × 11.20 = 560 + 105 + 5,600 = 6,265 µ$ = 6,265,000 n$.
const ONE = 6_265_000
const usd = (nanos: number): number => nanos / 1e9
const DAY = 86_400

async function raw (gw: TestGateway, path: string, key: string | null = ADMIN_KEY): Promise<{ status: number, json: any }> {
  const res = await fetch(`${gw.baseURL}/organization/${path}`, { headers: key === null ? {} : { authorization: `Bearer ${key}` } })
  return { status: res.status, json: await res.json() }
}

describe("OpenAI's Usage and Costs API, answered by the gateway", () => {
  let gw: TestGateway
  let admin: OpenAI
  let team: { id: string }
  let k1: { id: string, key: string }
  let k2: { id: string, key: string }
  let k3: { id: string, key: string }
  const today = Math.floor(Date.now() / 1000 / DAY) * DAY

  beforeAll(async () => {
    gw = await startGateway()
    admin = new OpenAI({ baseURL: gw.baseURL, adminAPIKey: ADMIN_KEY, apiKey: null, maxRetries: 0 })
    team = await createTeam(gw, { name: 'search' })
    k1 = await createKey(gw, { name: 'search-1', team_id: team.id })
    k2 = await createKey(gw, { name: 'search-2', team_id: team.id })
    k3 = await createKey(gw, { name: 'solo' })
    for (const k of [k1, k1, k2, k3]) await gw.client(k.key).chat.completions.create({ model: MODEL, messages: HI })
  })
  afterAll(async () => { await gw?.close() })

  it('sums completions usage per UTC day bucket (openai SDK admin client)', async () => {
    const page = await admin.admin.organization.usage.completions({ start_time: today, end_time: today + DAY })
    expect(page).toMatchObject({ object: 'page', has_more: false, next_page: null })
    expect(page.data).toHaveLength(1)
    expect(page.data[0]).toMatchObject({ object: 'bucket', start_time: today, end_time: today + DAY })
    expect(page.data[0]!.results).toEqual([{
      object: 'organization.usage.completions.result',
      input_tokens: 4000,
      output_tokens: 2000,
      input_cached_tokens: 2400,
      input_audio_tokens: 0,
      output_audio_tokens: 0,
      num_model_requests: 4,
      project_id: null,
      user_id: null,
      api_key_id: null,
      model: null,
      batch: null,
      service_tier: null
    }])
  })

  it('groups usage by api_key_id, model and project_id (a team is a project)', async () => {
    const byKey = await admin.admin.organization.usage.completions({ start_time: today, group_by: ['api_key_id', 'model'] })
    const rows = byKey.data.at(-1)!.results as unknown as Array<Record<string, unknown>>
    expect(rows.map((r) => [r.api_key_id, r.model, r.num_model_requests, r.input_tokens]).sort()).toEqual([
      [k1.id, MODEL, 2, 2000], [k2.id, MODEL, 1, 1000], [k3.id, MODEL, 1, 1000]
    ].sort())
    const byProject = await admin.admin.organization.usage.completions({ start_time: today, group_by: ['project_id'] })
    const projects = byProject.data.at(-1)!.results as unknown as Array<Record<string, unknown>>
    expect(projects.map((r) => [r.project_id, r.num_model_requests, r.output_tokens])).toEqual(expect.arrayContaining([[team.id, 3, 1500], [null, 1, 500]]))
    expect(projects).toHaveLength(2)
  })

  it('answers costs in USD from exact nano-dollar sums, grouped and filtered', async () => {
    const total = await admin.admin.organization.usage.costs({ start_time: today })
    expect(total.data.at(-1)!.results).toEqual([{ object: 'organization.costs.result', amount: { value: usd(4 * ONE), currency: 'usd' }, line_item: null, project_id: null, api_key_id: null, quantity: null }])
    expect(usd(4 * ONE)).toBe(0.02506)

    const byProject = await admin.admin.organization.usage.costs({ start_time: today, group_by: ['project_id', 'line_item'] })
    const results = byProject.data.at(-1)!.results as Array<{ project_id: string | null, line_item: string | null, amount: { value: number } }>
    expect(results.map((r) => [r.project_id, r.line_item, r.amount.value])).toEqual(expect.arrayContaining([[team.id, MODEL, 0.018795], [null, MODEL, 0.006265]]))

    const onlyTeam = await admin.admin.organization.usage.costs({ start_time: today, project_ids: [team.id] })
    expect((onlyTeam.data.at(-1)!.results[0] as { amount: { value: number } }).amount.value).toBe(0.018795)
    const onlyKey = await admin.admin.organization.usage.costs({ start_time: today, api_key_ids: [k3.id], group_by: ['api_key_id'] })
    expect(onlyKey.data.at(-1)!.results).toEqual([expect.objectContaining({ api_key_id: k3.id, amount: { value: 0.006265, currency: 'usd' } })])
    const none = await raw(gw, `usage/completions?start_time=${today}&models=gpt-4o`)
    expect(none.json.data[0].results).toEqual([])
  })

  it('pages through day buckets with limit, has_more and next_page', async () => {
    const start = today - 9 * DAY
    const seen: number[] = []
    let page: string | undefined
    let pages = 0
    for (;;) {
      const r = await admin.admin.organization.usage.costs({ start_time: start, end_time: today + DAY, limit: 3, ...(page === undefined ? {} : { page }) })
      pages++
      seen.push(...r.data.map((b) => b.start_time))
      if (!r.has_more) {
        expect(r.next_page).toBeNull()
        break
      }
      page = r.next_page!
    }
    expect(pages).toBe(4)
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => start + i * DAY))
  })

  it('refuses bad queries with 400 naming the parameter', async () => {
    for (const [query, param] of [
      ['', 'start_time'],
      ['start_time=yesterday', 'start_time'],
      [`start_time=${today}&bucket_width=1h`, 'bucket_width'],
      [`start_time=${today}&bucket_width=1w`, 'bucket_width'],
      [`start_time=${today}&group_by=user_name`, 'group_by'],
      [`start_time=${today}&limit=32`, 'limit'],
      [`start_time=${today}&end_time=${today - 1}`, 'end_time'],
      [`start_time=${today}&page=abc`, 'page']
    ] as const) {
      const r = await raw(gw, `usage/completions?${query}`)
      expect(r.status, query).toBe(400)
      expect(r.json.error.param, query).toBe(param)
    }
    expect((await raw(gw, `costs?start_time=${today}&limit=180`)).status).toBe(200)
    expect((await raw(gw, `costs?start_time=${today}&group_by=model`)).status).toBe(400)
    expect((await raw(gw, `usage/completions?start_time=${today}&bucket_width=1h`)).json.error.message).toContain('1d')
  })

  it('wants the admin key: 403 for a client key, 401 without a valid one; never relayed', async () => {
    const client = await raw(gw, `costs?start_time=${today}`, TEST_KEY)
    expect(client.status).toBe(403)
    expect(client.json.error.code).toBe('admin_key_required')
    expect((await raw(gw, `usage/completions?start_time=${today}`, k1.key)).status).toBe(403)
    expect((await raw(gw, `costs?start_time=${today}`, null)).status).toBe(401)
    expect((await raw(gw, `costs?start_time=${today}`, 'sk-wrong-000000000000000000000000000000000000000')).status).toBe(401)
    const err = await new OpenAI({ baseURL: gw.baseURL, adminAPIKey: TEST_KEY, apiKey: null, maxRetries: 0 }).admin.organization.usage.costs({ start_time: today }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect(gw.mock.requests.some((r) => r.url.includes('organization'))).toBe(false)
  })

  it('shows the same spend in /admin/usage grouped and filtered by team', async () => {
    const r = await adminCall(gw, 'GET', '/usage?group_by=team')
    expect(r.json.data).toEqual(expect.arrayContaining([
      expect.objectContaining({ team_id: team.id, team_name: 'search', requests: 3, cost_usd: 0.018795 }),
      expect.objectContaining({ team_id: null, team_name: null, requests: 1, cost_usd: 0.006265 })
    ]))
    const filtered = await adminCall(gw, 'GET', `/usage?group_by=key&team_id=${team.id}`)
    expect(filtered.json.data.map((x: { key_name: string }) => x.key_name)).toEqual(['search-1', 'search-2'])
    expect(filtered.json.total_cost_usd).toBe(0.018795)
    const byKey = await adminCall(gw, 'GET', `/usage?group_by=model&key_id=${k3.id}`)
    expect(byKey.json.data).toEqual([expect.objectContaining({ model: MODEL, requests: 1, cost_usd: 0.006265 })])
    expect((await adminCall(gw, 'GET', '/usage?group_by=model&model=gpt-4o')).json.data).toEqual([])
  })
})
