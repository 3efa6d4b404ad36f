import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'
import { startRedisCluster, type PrivateCluster } from '../helpers/redis.js'
import { adminCall, createKey, HI, MODEL } from '../admin/admin-client.js'
import { Scrape } from '../metrics/prom-text.js'

// The mock's usage (1000 in, 600 cached, 500 out) at the default prices, in USD.
const COST = ((1000 - 600) * 1.40 + 600 * 0.175 + 500 * 11.20) / 1e6

/**
 * The horizontal-scaling deployment end to end: two gateway instances behind one
 * 3-master Redis Cluster (REDIS_CLUSTER_NODES), as the Kubernetes manifests run them.
 * Keys, limits, cache and spend all live in the cluster, spread over its slots.
 */
describe('two gateways on a 3-master Redis Cluster', () => {
  let cluster: PrivateCluster
  let mock: MockUpstream
  let a: TestGateway
  let b: TestGateway
  let alice: { id: string, key: string }
  let limited: { id: string, key: string }

  beforeAll(async () => {
    cluster = await startRedisCluster()
    mock = await startMockUpstream({ chunks: 4 })
    a = await startGateway({ REDIS_CLUSTER_NODES: cluster.nodesEnv, keys: [] }, {}, mock)
    b = await startGateway({ REDIS_CLUSTER_NODES: cluster.nodesEnv, keys: [] }, {}, mock)
    alice = await createKey(a, { name: 'alice', budget_usd: 100 })
    limited = await createKey(b, { name: 'limited', rpm: 2 })
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await mock?.close()
    await cluster?.stop()
  })

  it('is ready on both instances', async () => {
    for (const gw of [a, b]) expect((await fetch(`${gw.url}/readyz`)).status).toBe(200)
  })

  it('serves a key created on one instance from the other, stream and not', async () => {
    const r = await b.client(alice.key).chat.completions.create({ model: MODEL, messages: HI })
    expect(r.choices[0]!.message.content).toBe('Hello from the mock')
    const stream = await a.client(alice.key).chat.completions.create({ model: MODEL, messages: HI, stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    expect(text).toBe('Hello from the mock')
  })

  it('answers from the cache on one instance what the other stored', async () => {
    const ask = { model: MODEL, messages: [{ role: 'user' as const, content: 'cache across instances' }] }
    const opts = { headers: { 'x-gateway-cache-ttl': '120' } }
    const miss = await a.client(alice.key).chat.completions.create(ask, opts).withResponse()
    expect(miss.response.headers.get('x-gateway-cache')).toBe('MISS')
    const upstreamBefore = mock.requests.length
    let hit: Response | undefined
    // The store is written after the answer ends: poll until the entry is there.
    await waitFor(async () => {
      const r = await b.client(alice.key).chat.completions.create(ask, opts).withResponse()
      hit = r.response
      return r.response.headers.get('x-gateway-cache') === 'HIT'
    })
    expect(hit!.headers.get('x-gateway-cost-usd')).toBe('0')
    expect(mock.requests.length - upstreamBefore).toBeLessThanOrEqual(1)
  })

  it('enforces one rpm limit across both instances', async () => {
    const ask = { model: MODEL, messages: HI }
    await a.client(limited.key).chat.completions.create(ask)
    await b.client(limited.key).chat.completions.create(ask)
    const err = await a.client(limited.key).chat.completions.create(ask).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.RateLimitError)
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('rate_limit_exceeded')
    expect((await Scrape.of(a.url)).sum('gateway_rate_limited_total', { key: 'limited', limit: 'rpm' })).toBe(1)
  })

  it('records spend in the cluster: /admin/usage on either instance sees both instances\' traffic', async () => {
    const usage = async (gw: TestGateway): Promise<any> => (await adminCall(gw, 'GET', '/usage?group_by=key')).json
    let row: any
    await waitFor(async () => {
      row = (await usage(a)).data.find((r: any) => r.key_name === 'alice')
      // Each instance flushes its own spend: wait until both have (at least the non-stream
      // (b), the stream (a) and the cache miss (a) went upstream, and one hit (b)).
      return row !== undefined && row.cache_hits >= 1 && row.requests - row.cache_hits >= 3
    }, 20_000)
    // Every request that went upstream paid exactly COST; every hit saved it.
    expect(row.cost_usd).toBeCloseTo(COST * (row.requests - row.cache_hits), 9)
    expect(row.saved_usd).toBeCloseTo(COST * row.cache_hits, 9)
    // B reads the same ledger; a batch being flushed at that moment is briefly in neither
    // the store nor the local buffer, so poll until B's view has caught up.
    let fromB: any
    await waitFor(async () => {
      fromB = (await usage(b)).data.find((r: any) => r.key_name === 'alice')
      return fromB !== undefined && Math.abs(fromB.cost_usd - row.cost_usd) < 1e-9
    }, 10_000)
    expect(fromB.cost_usd).toBeCloseTo(row.cost_usd, 9)
  })

  it('revokes a key on one instance and the other refuses it within a second', async () => {
    const bob = await createKey(a, { name: 'bob' })
    await b.client(bob.key).chat.completions.create({ model: MODEL, messages: HI })
    expect((await adminCall(a, 'DELETE', `/keys/${bob.id}`)).status).toBe(200)
    const start = Date.now()
    await waitFor(async () => {
      const res = await fetch(`${b.baseURL}/models`, { headers: { authorization: `Bearer ${bob.key}` } })
      await res.arrayBuffer()
      return res.status === 401
    }, 5_000)
    expect(Date.now() - start).toBeLessThan(1_500)
  })

  it('spreads its data over more than one master and never hits a cross-slot error', async () => {
    // Per-key state (spend, limits, cache) is tagged by key id: a few more keys with
    // traffic make "all on one master" vanishingly unlikely (3 · 3^-10) if tags spread.
    for (let i = 0; i < 8; i++) {
      const k = await createKey(i % 2 === 0 ? a : b, { name: `spread-${i}`, rpm: 100 })
      await (i % 2 === 0 ? b : a).client(k.key).chat.completions.create({ model: MODEL, messages: HI })
    }
    const dbsize = (port: number): number => Number(execFileSync('redis-cli', ['-p', String(port), 'dbsize'], { encoding: 'utf8' }).trim())
    await waitFor(() => cluster.nodes.filter((n) => dbsize(n.port) > 0).length > 1, 20_000)
    for (const gw of [a, b]) {
      const lines = gw.logs.join('').split('\n').filter(Boolean)
      expect(lines.join('\n')).not.toMatch(/CROSSSLOT|MOVED|ASK /)
      expect(lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50)).toEqual([])
    }
  })
})
