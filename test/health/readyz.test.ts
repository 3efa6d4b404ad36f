import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'

async function status (gw: TestGateway, path: string): Promise<number> {
  const res = await fetch(gw.url + path)
  await res.arrayBuffer()
  return res.status
}

describe('health while Redis comes and goes', () => {
  let redis: PrivateRedis
  let gw: TestGateway
  beforeAll(async () => {
    redis = await startRedis()
    gw = await startGateway({ REDIS_URL: redis.url })
  })
  afterAll(async () => {
    await gw?.close()
    await redis?.stop()
  })

  it('answers /readyz 503 while Redis is unreachable and 200 again once it is back; /healthz stays 200', async () => {
    expect(await status(gw, '/readyz')).toBe(200)
    await redis.stop()
    await waitFor(async () => await status(gw, '/readyz') === 503, 10_000)
    expect(await status(gw, '/healthz')).toBe(200)
    await redis.restart()
    await waitFor(async () => await status(gw, '/readyz') === 200, 20_000)
  })
})
