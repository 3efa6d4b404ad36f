import { startRedis, startRedisCluster } from '../helpers/redis.js'
import { rotationContract } from './rotation-contract.js'

rotationContract('a single Redis', async () => {
  const redis = await startRedis()
  return { overrides: { REDIS_URL: redis.url }, stop: () => redis.stop() }
})

rotationContract('a 3-master Redis Cluster', async () => {
  const cluster = await startRedisCluster()
  return { overrides: { REDIS_CLUSTER_NODES: cluster.nodesEnv }, stop: () => cluster.stop() }
})
