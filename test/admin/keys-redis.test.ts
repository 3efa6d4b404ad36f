import { startRedis, startRedisCluster } from '../helpers/redis.js'
import { keyStoreContract } from './keys-contract.js'

keyStoreContract('a single Redis', async () => {
  const redis = await startRedis()
  return { overrides: { REDIS_URL: redis.url }, stop: () => redis.stop() }
})

keyStoreContract('a 3-master Redis Cluster', async () => {
  const cluster = await startRedisCluster()
  return { overrides: { REDIS_CLUSTER_NODES: cluster.nodesEnv }, stop: () => cluster.stop() }
})
