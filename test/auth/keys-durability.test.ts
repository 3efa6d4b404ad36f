import { afterAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { startGateway, tempDataDir, type TestGateway } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'
import { adminCall, createKey, HI, MODEL } from '../admin/admin-client.js'

describe('keys survive restarts and outages', () => {
  const open: TestGateway[] = []
  let redis: PrivateRedis | undefined
  afterAll(async () => {
    for (const gw of open) await gw.close()
    await redis?.stop()
  })

  it('keeps SQLite keys, revocations included, across a gateway restart', async () => {
    const dir = tempDataDir()
    const first = await startGateway({ DATA_DIR: dir })
    const kept = await createKey(first, { name: 'kept', rpm: 30, models: ['gpt-5.2*'] })
    const gone = await createKey(first, { name: 'gone' })
    await adminCall(first, 'DELETE', `/keys/${gone.id}`)
    await first.close()

    const second = await startGateway({ DATA_DIR: dir })
    open.push(second)
    const r = await second.client(kept.key).chat.completions.create({ model: MODEL, messages: HI })
    expect(r.object).toBe('chat.completion')
    const err = await second.client(gone.key).chat.completions.create({ model: MODEL, messages: HI }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
    const got = await adminCall(second, 'GET', `/keys/${kept.id}`)
    expect(got.json).toMatchObject({ name: 'kept', rpm: 30, models: ['gpt-5.2*'], revoked: false })
  })

  it('serves known keys from the cache while Redis is down, and new keys once it is back', async () => {
    redis = await startRedis()
    const gw = await startGateway({ REDIS_URL: redis.url })
    open.push(gw)
    const known = await createKey(gw, { name: 'known' })
    await gw.client(known.key).chat.completions.create({ model: MODEL, messages: HI })
    await redis.stop()

    const t0 = Date.now()
    const r = await gw.client(known.key).chat.completions.create({ model: MODEL, messages: HI })
    expect(r.object).toBe('chat.completion')
    // A key the gateway never saw cannot be checked: 503, quickly, not a wrong 401 and no hang.
    const unseen = await gw.client('sk-' + 'y'.repeat(43)).models.list().catch((e: unknown) => e)
    expect(unseen).toBeInstanceOf(OpenAI.InternalServerError)
    expect((unseen as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect((await adminCall(gw, 'GET', '/keys')).status).toBe(503)
    const junk = await gw.client('not-a-key-at-all').models.list().catch((e: unknown) => e)
    expect(junk).toBeInstanceOf(OpenAI.AuthenticationError)

    // The test Redis keeps no data across restarts, so only keys made afterwards exist.
    await redis.restart()
    let fresh: { key: string } | undefined
    const end = Date.now() + 15_000
    while (fresh === undefined && Date.now() < end) {
      fresh = await createKey(gw, { name: 'after-outage' }).catch(() => undefined)
      if (fresh === undefined) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(fresh).toBeDefined()
    await gw.client(fresh!.key).chat.completions.create({ model: MODEL, messages: HI })
  })
})
