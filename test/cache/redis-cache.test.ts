import { startRedis } from '../helpers/redis.js'
import { cacheContract } from './cache-contract.js'

cacheContract('Redis store', async () => {
  const redis = await startRedis()
  return { overrides: { REDIS_URL: redis.url }, stop: () => redis.stop(), restart: () => redis.restart(), close: () => redis.stop() }
}, { outage: true, instances: true })
