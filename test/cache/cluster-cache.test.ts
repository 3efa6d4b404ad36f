import { startRedisCluster } from '../helpers/redis.js'
import { cacheContract } from './cache-contract.js'

cacheContract('Redis Cluster store', async () => {
  const cluster = await startRedisCluster()
  return { overrides: { REDIS_CLUSTER_NODES: cluster.nodesEnv }, stop: () => cluster.stop(), close: () => cluster.stop() }
}, { outage: true, instances: true })
