import { startRedis } from '../helpers/redis.js'
import { auditContract } from './audit-contract.js'

auditContract('Redis', async () => {
  const redis = await startRedis()
  return { overrides: { REDIS_URL: redis.url }, stop: () => redis.stop() }
})
