import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'
import { startObjectsUpstream, type ObjectsUpstream } from '../helpers/objects-upstream.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'
import { createKey } from '../admin/admin-client.js'
import { createTeam } from '../teams/teams-contract.js'

const KEY_A = 'sk-alice-0123456789abcdefghijklmnopqrstuvwxyz'
const KEY_B = 'sk-bob-0123456789abcdefghijklmnopqrstuvwxyzab'
const KEY_C = 'sk-carol-0123456789abcdefghijklmnopqrstuvwxy'
/** carol has a budget that one batch of this test upstream overspends ($0.002275 at the default price). */
const KEYS = [{ name: 'alice', key: KEY_A }, { name: 'bob', key: KEY_B }, { name: 'carol', key: KEY_C, budget_usd: 0.002 }]
const BATCH_INPUT = [1, 2].map((i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] } })).join('\n') + '\n'

async function status (p: Promise<unknown>): Promise<{ status: number, param?: string | null, code?: string | null }> {
  try {
    await p
    return { status: 200 }
  } catch (err) {
    const e = err as { status?: number, param?: string | null, code?: string | null }
    if (e.status === undefined) throw err
    return { status: e.status, param: e.param, code: e.code }
  }
}

interface Setup {
  up: ObjectsUpstream
  /** Where alice and bob talk to (the same gateway, or two instances on one store). */
  alice: OpenAI
  bob: OpenAI
  /** Another instance (or the same) for alice: objects follow their owner everywhere. */
  aliceElsewhere: OpenAI
  gateways: TestGateway[]
}

async function usageOf (gw: TestGateway, key: string): Promise<{ input_tokens: number, output_tokens: number, cost_usd: number, requests: number } | undefined> {
  const res = await fetch(`${gw.url}/admin/usage?from=2000-01-01&to=2100-01-01&group_by=key`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  const body = await res.json() as { data: Array<{ key_name: string, input_tokens: number, output_tokens: number, cost_usd: number, requests: number }> }
  return body.data.find((r) => r.key_name === key)
}

/** The rules, driven with the real SDK; `setup` is the embedded store or two instances on Redis. */
function objectRules (name: string, open: () => Promise<Setup>, close: () => Promise<void>): void {
  describe(name, () => {
    let s: Setup
    beforeAll(async () => { s = await open() })
    afterAll(close)

    it('another key\'s file is 404 on every route below it, and nothing reaches the upstream', async () => {
      const file = await s.alice.files.create({ file: await toFile(Buffer.from('hello'), 'a.txt'), purpose: 'assistants' })
      const before = s.up.requests.length
      expect(await status(s.bob.files.retrieve(file.id))).toMatchObject({ status: 404, code: 'not_found' })
      expect(await status(s.bob.files.content(file.id))).toMatchObject({ status: 404 })
      expect(await status(s.bob.files.delete(file.id))).toMatchObject({ status: 404 })
      // Spellings a lenient upstream routes to the same file (refused here, or by the route allow-list).
      for (const path of [`/Files/${file.id}`, `/%66iles/${file.id}/content`, '/FILES']) {
        const res = await fetch(s.gateways.at(-1)!.baseURL + path, { headers: { authorization: `Bearer ${KEY_B}` } })
        const text = await res.text()
        if (path === '/FILES' && res.status === 200) expect(text).not.toContain(file.id)
        else expect([403, 404]).toContain(res.status)
      }
      // Only the list may have gone upstream (filtered on its way back).
      expect(s.up.received(file.id)).toHaveLength(0)
      expect(s.up.requests.length).toBeLessThanOrEqual(before + 1)
      expect((await s.aliceElsewhere.files.retrieve(file.id)).id).toBe(file.id)
      expect(await (await s.alice.files.content(file.id)).text()).toBe('hello')
    })

    it('ids the gateway never saw are 404 and not relayed, even when the upstream has them', async () => {
      const foreign = s.up.objects.size
      const before = s.up.requests.length
      expect(await status(s.alice.files.retrieve('file-neverseen'))).toMatchObject({ status: 404 })
      expect(await status(s.alice.batches.retrieve('batch_neverseen'))).toMatchObject({ status: 404 })
      expect(await status(s.alice.responses.retrieve('resp_neverseen'))).toMatchObject({ status: 404 })
      expect(await status(s.alice.vectorStores.retrieve('vs_neverseen'))).toMatchObject({ status: 404 })
      expect(s.up.requests.length).toBe(before)
      expect(s.up.objects.size).toBe(foreign)
    })

    it('responses: another key can neither read one nor continue it (404, param), never relayed', async () => {
      const resp = await s.alice.responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi' })
      const stream = await s.alice.responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi', stream: true })
      let streamedId: string | undefined
      for await (const event of stream) if (event.type === 'response.created') streamedId = event.response.id
      expect(streamedId).toMatch(/^resp_/)
      const before = s.up.requests.length
      expect(await status(s.bob.responses.retrieve(resp.id))).toMatchObject({ status: 404 })
      expect(await status(s.bob.responses.inputItems.list(streamedId!))).toMatchObject({ status: 404 })
      expect(await status(s.bob.responses.create({ model: 'gpt-5.2-chat-latest', input: 'x', previous_response_id: resp.id }))).toMatchObject({ status: 404, param: 'previous_response_id' })
      expect(s.up.requests.length).toBe(before)
      expect(s.up.received(resp.id).filter((r) => r.method === 'POST')).toHaveLength(0)
      // Their owner continues both, here and on another instance.
      expect((await s.alice.responses.create({ model: 'gpt-5.2-chat-latest', input: 'x', previous_response_id: streamedId })).previous_response_id).toBe(streamedId)
      expect((await s.aliceElsewhere.responses.retrieve(resp.id)).id).toBe(resp.id)
    })

    it('a file named in a body is 404 with param for another key, never relayed', async () => {
      const file = await s.alice.files.create({ file: await toFile(Buffer.from('%PDF'), 'doc.pdf'), purpose: 'user_data' })
      const before = s.up.requests.length
      const r = await status(s.bob.responses.create({ model: 'gpt-5.2-chat-latest', input: [{ role: 'user', content: [{ type: 'input_file', file_id: file.id }] }] }))
      expect(r).toMatchObject({ status: 404, param: 'input[0].content[0].file_id' })
      const chat = await status(s.bob.chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: file.id } }] }] }))
      expect(chat).toMatchObject({ status: 404, param: 'messages[0].content[0].file.file_id' })
      expect(await status(s.bob.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }))).toMatchObject({ status: 404, param: 'input_file_id' })
      // Spellings a lenient upstream reads as the same field: a name twice, or in other case.
      const raw = async (body: string): Promise<{ status: number, error: { code: string | null, param: string | null } }> => {
        const res = await fetch(`${s.gateways.at(-1)!.baseURL}/responses`, { method: 'POST', headers: { authorization: `Bearer ${KEY_B}`, 'content-type': 'application/json' }, body })
        return { status: res.status, error: (await res.json() as { error: { code: string | null, param: string | null } }).error }
      }
      const mine = await s.bob.files.create({ file: await toFile(Buffer.from('b'), 'b.pdf'), purpose: 'user_data' })
      const twice = await raw(`{"model":"gpt-5.2-chat-latest","input":[{"role":"user","content":[{"type":"input_file","file_id":"${file.id}","file_id":"${mine.id}"}]}]}`)
      expect(twice).toMatchObject({ status: 400, error: { code: 'duplicate_field', param: 'file_id' } })
      const cased = await raw(`{"model":"gpt-5.2-chat-latest","input":[{"role":"user","content":[{"type":"input_file","File_ID":"${file.id}"}]}]}`)
      expect(cased).toMatchObject({ status: 404, error: { code: 'not_found', param: 'input[0].content[0].File_ID' } })
      expect(s.up.requests.length).toBe(before + 1)
      expect(s.up.received(file.id)).toHaveLength(0)
    })

    it('conversations: another key cannot add to one or answer in it', async () => {
      const conv = await s.alice.conversations.create({})
      const before = s.up.requests.length
      expect(await status(s.bob.conversations.retrieve(conv.id))).toMatchObject({ status: 404 })
      expect(await status(s.bob.conversations.items.create(conv.id, { items: [{ type: 'message', role: 'user', content: 'x' }] }))).toMatchObject({ status: 404 })
      expect(await status(s.bob.responses.create({ model: 'gpt-5.2-chat-latest', input: 'x', conversation: conv.id }))).toMatchObject({ status: 404, param: 'conversation' })
      expect(await status(s.bob.responses.create({ model: 'gpt-5.2-chat-latest', input: 'x', conversation: { id: conv.id } }))).toMatchObject({ status: 404, param: 'conversation' })
      expect(s.up.requests.length).toBe(before)
      expect((await s.aliceElsewhere.conversations.retrieve(conv.id)).id).toBe(conv.id)
    })

    it('vector stores: 404 for another key, including as a file_search tool', async () => {
      const vs = await s.alice.vectorStores.create({ name: 'docs' })
      const before = s.up.requests.length
      expect(await status(s.bob.vectorStores.retrieve(vs.id))).toMatchObject({ status: 404 })
      expect(await status(s.bob.vectorStores.files.list(vs.id))).toMatchObject({ status: 404 })
      expect(await status(s.bob.responses.create({ model: 'gpt-5.2-chat-latest', input: 'x', tools: [{ type: 'file_search', vector_store_ids: [vs.id] }] }))).toMatchObject({ status: 404, param: 'tools[0].vector_store_ids[0]' })
      expect(s.up.requests.length).toBe(before)
      expect((await s.aliceElsewhere.vectorStores.retrieve(vs.id)).id).toBe(vs.id)
    })

    it('lists hold only the caller\'s objects (the upstream lists everyone\'s)', async () => {
      const bobs = await s.bob.files.create({ file: await toFile(Buffer.from('b'), 'b.txt'), purpose: 'assistants' })
      await s.bob.vectorStores.create({ name: 'bob' })
      const seen = async (client: OpenAI): Promise<{ files: string[], stores: string[] }> => {
        const files: string[] = []
        for await (const f of client.files.list({ limit: 2 })) files.push(f.id)
        const stores: string[] = []
        for await (const v of client.vectorStores.list()) stores.push(v.id)
        return { files, stores }
      }
      const upstreamFiles = [...s.up.objects.values()].filter((o) => o.object === 'file').map((o) => o.id as string)
      const alice = await seen(s.alice)
      const bob = await seen(s.bob)
      expect(bob.files).toContain(bobs.id)
      expect(bob.stores).toHaveLength(1)
      expect(alice.files.filter((id) => bob.files.includes(id))).toEqual([])
      expect(alice.files.length).toBeGreaterThanOrEqual(2)
      expect(alice.files.length + bob.files.length).toBe(upstreamFiles.length)
      expect(alice.stores).not.toContain(bob.stores[0])
    })

    it('a batch is billed to its creator once when its results are read back, on any instance', async () => {
      const input = await s.alice.files.create({ file: await toFile(Buffer.from(BATCH_INPUT), 'batch.jsonl'), purpose: 'batch' })
      const batch = await s.alice.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      expect(await status(s.bob.batches.retrieve(batch.id))).toMatchObject({ status: 404 })
      expect(await status(s.bob.batches.cancel(batch.id))).toMatchObject({ status: 404 })
      const gw = s.gateways[0]!
      const before = await usageOf(gw, 'alice')

      const done = await s.alice.batches.retrieve(batch.id)
      expect(done.status).toBe('completed')
      await s.aliceElsewhere.batches.retrieve(batch.id)
      // The output file is the creator's; another key cannot read it.
      expect(await status(s.bob.files.content(done.output_file_id!))).toMatchObject({ status: 404 })
      const out = await (await s.aliceElsewhere.files.content(done.output_file_id!)).text()
      expect(out.trim().split('\n')).toHaveLength(2)
      const batches: string[] = []
      for await (const b of s.alice.batches.list()) batches.push(b.id)
      expect(batches).toContain(batch.id)
      for await (const b of s.bob.batches.list()) expect(b.id).not.toBe(batch.id)

      // 2 requests × (500 in, 50 out): billed once, whatever number of reads.
      const expected = { input: (before?.input_tokens ?? 0) + 1000, output: (before?.output_tokens ?? 0) + 100 }
      await waitFor(async () => (await usageOf(gw, 'alice'))?.input_tokens === expected.input)
      await new Promise((resolve) => setTimeout(resolve, 300))
      const after = await usageOf(gw, 'alice')
      expect(after?.input_tokens).toBe(expected.input)
      expect(after?.output_tokens).toBe(expected.output)
    })

    it('team keys share their team\'s objects; a batch a teammate reads is billed to its creator', async () => {
      const gw = s.gateways[0]!
      const team = await createTeam(gw, { name: 'research-' + s.gateways.length })
      const t1 = await createKey(gw, { name: 'r1-' + s.gateways.length, team_id: team.id })
      const t2 = await createKey(gw, { name: 'r2-' + s.gateways.length, team_id: team.id })
      const one = new OpenAI({ baseURL: gw.baseURL, apiKey: t1.key, maxRetries: 0 })
      const mate = new OpenAI({ baseURL: s.gateways.at(-1)!.baseURL, apiKey: t2.key, maxRetries: 0 })
      // The other instance learns of the new key.
      await waitFor(async () => (await status(mate.files.list())).status === 200)
      const file = await one.files.create({ file: await toFile(Buffer.from(BATCH_INPUT), 'team.jsonl'), purpose: 'batch' })
      const resp = await one.responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi' })
      expect((await mate.files.retrieve(file.id)).id).toBe(file.id)
      expect((await mate.responses.create({ model: 'gpt-5.2-chat-latest', input: 'more', previous_response_id: resp.id })).previous_response_id).toBe(resp.id)
      const listed: string[] = []
      for await (const f of mate.files.list()) listed.push(f.id)
      expect(listed).toContain(file.id)
      // Outside the team, nothing.
      expect(await status(s.bob.files.retrieve(file.id))).toMatchObject({ status: 404 })
      expect(await status(s.alice.responses.retrieve(resp.id))).toMatchObject({ status: 404 })

      const batch = await one.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      await mate.batches.retrieve(batch.id)
      await waitFor(async () => (await usageOf(gw, t1.name as string))?.input_tokens === 1000 + 10)
      expect((await usageOf(gw, t2.name as string))?.input_tokens).toBe(10)
    })

    it('a batch read back counts against its creator\'s budget', async () => {
      const carol = new OpenAI({ baseURL: s.gateways[0]!.baseURL, apiKey: KEY_C, maxRetries: 0 })
      const carolElsewhere = new OpenAI({ baseURL: s.gateways.at(-1)!.baseURL, apiKey: KEY_C, maxRetries: 0 })
      const input = await carol.files.create({ file: await toFile(Buffer.from(BATCH_INPUT), 'batch.jsonl'), purpose: 'batch' })
      const batch = await carol.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      expect((await carol.batches.retrieve(batch.id)).status).toBe('completed')
      // Billed on the instance that read it; the other one sees it once that instance's ledger flushed.
      await waitFor(async () => (await usageOf(s.gateways.at(-1)!, 'carol'))?.cost_usd === 0.002275)
      const refused = await status(carolElsewhere.chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] }))
      expect(refused).toMatchObject({ status: 429, code: 'insufficient_quota' })
    })

    it('without usage on the batch object, reading the output file bills it once', async () => {
      s.up.batchUsage = false
      try {
        const input = await s.alice.files.create({ file: await toFile(Buffer.from(BATCH_INPUT), 'batch.jsonl'), purpose: 'batch' })
        const batch = await s.alice.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
        const gw = s.gateways[0]!
        const done = await s.alice.batches.retrieve(batch.id)
        await new Promise((resolve) => setTimeout(resolve, 200))
        const before = await usageOf(gw, 'alice')
        await (await s.alice.files.content(done.output_file_id!)).text()
        await (await s.aliceElsewhere.files.content(done.output_file_id!)).text()
        await waitFor(async () => (await usageOf(gw, 'alice'))?.input_tokens === (before?.input_tokens ?? 0) + 1000)
        await new Promise((resolve) => setTimeout(resolve, 300))
        expect((await usageOf(gw, 'alice'))?.input_tokens).toBe((before?.input_tokens ?? 0) + 1000)
      } finally {
        s.up.batchUsage = true
      }
    })
  })
}

let up: ObjectsUpstream
let embedded: TestGateway
objectRules('objects belong to their creator (embedded store)', async () => {
  up = await startObjectsUpstream()
  embedded = await startGateway({ UPSTREAM_BASE_URL: up.baseUrl, keys: KEYS, UNPRICED_MODELS: 'allow' })
  const alice = embedded.client(KEY_A)
  return { up, alice, bob: embedded.client(KEY_B), aliceElsewhere: alice, gateways: [embedded] }
}, async () => {
  await embedded.close()
  await up.close()
})

let redis: PrivateRedis
let upR: ObjectsUpstream
let one: TestGateway
let two: TestGateway
objectRules('objects belong to their creator (two instances on Redis)', async () => {
  redis = await startRedis()
  upR = await startObjectsUpstream()
  const overrides = { UPSTREAM_BASE_URL: upR.baseUrl, keys: KEYS, REDIS_URL: redis.url, UNPRICED_MODELS: 'allow' }
  one = await startGateway(overrides)
  two = await startGateway(overrides)
  return { up: upR, alice: one.client(KEY_A), bob: two.client(KEY_B), aliceElsewhere: two.client(KEY_A), gateways: [one, two] }
}, async () => {
  await one.close()
  await two.close()
  await upR.close()
  await redis.stop()
})
