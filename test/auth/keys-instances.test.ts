import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'
import { startRedis, startRedisCluster } from '../helpers/redis.js'
import { adminCall, createKey, HI, MODEL } from '../admin/admin-client.js'

async function works (gw: TestGateway, key: string): Promise<boolean> {
  try {
    await gw.client(key).chat.completions.create({ model: MODEL, messages: HI })
    return true
  } catch (err) {
    if (err instanceof OpenAI.AuthenticationError || err instanceof OpenAI.PermissionDeniedError) return false
    throw err
  }
}

/** Two gateways on one Redis act as one: changes made on either are seen on the other within a second. */
function twoInstances (label: string, setup: () => Promise<{ overrides: Record<string, unknown>, stop: () => Promise<void> }>): void {
  describe(`two gateway instances on ${label}`, () => {
    let mock: MockUpstream
    let a: TestGateway
    let b: TestGateway
    let stop: () => Promise<void>
    beforeAll(async () => {
      const store = await setup()
      stop = store.stop
      mock = await startMockUpstream()
      a = await startGateway(store.overrides, {}, mock)
      b = await startGateway(store.overrides, {}, mock)
    })
    afterAll(async () => {
      await a?.close()
      await b?.close()
      await mock?.close()
      await stop?.()
    })

    it('sees creations, changes and revocations of the other instance within a second', async () => {
      const k = await createKey(a, { name: 'shared' })
      await waitFor(() => works(b, k.key), 1000)
      expect(await works(a, k.key)).toBe(true)

      // B has the key in its in-process cache now: the change must reach it by pub/sub.
      const patched = await adminCall(a, 'PATCH', `/keys/${k.id}`, { models: ['gpt-4.1*'] })
      expect(patched.status).toBe(200)
      await waitFor(async () => !(await works(b, k.key)), 1000)

      const t0 = Date.now()
      expect((await adminCall(b, 'DELETE', `/keys/${k.id}`)).status).toBe(200)
      await waitFor(async () => {
        const e = await a.client(k.key).models.list().catch((x: unknown) => x)
        return e instanceof OpenAI.AuthenticationError
      }, 1000)
      expect(Date.now() - t0).toBeLessThan(1000)
      expect((await adminCall(a, 'GET', `/keys/${k.id}`)).json.revoked).toBe(true)
    })

    it('answers an unknown key 401 on both without hammering the store', async () => {
      const bogus = 'sk-' + 'x'.repeat(43)
      const results = await Promise.all(Array.from({ length: 50 }, () => b.client(bogus).models.list().catch((e: unknown) => e)))
      for (const e of results) expect(e).toBeInstanceOf(OpenAI.AuthenticationError)
    })
  })
}

twoInstances('a single Redis', async () => {
  const redis = await startRedis()
  return { overrides: { REDIS_URL: redis.url }, stop: () => redis.stop() }
})

twoInstances('a Redis Cluster', async () => {
  const cluster = await startRedisCluster()
  return { overrides: { REDIS_CLUSTER_NODES: cluster.nodesEnv }, stop: () => cluster.stop() }
})
