import { Cluster } from 'ioredis'
import { startRedisCluster } from '../helpers/redis.js'
import { createRedisOwnershipStore } from '../../src/ownership/redis-store.js'
import { ownershipStoreContract } from './store-contract.js'

/** The same contract on a 3-master Cluster: every key of the store shares one hash tag. */
ownershipStoreContract('Redis Cluster ownership store', async () => {
  const cluster = await startRedisCluster()
  const clients: Cluster[] = []
  const open = (): ReturnType<typeof createRedisOwnershipStore> => {
    const c = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { redisOptions: { maxRetriesPerRequest: 1 } })
    clients.push(c)
    return createRedisOwnershipStore(c)
  }
  return {
    store: open(),
    second: async () => open(),
    close: async () => {
      for (const c of clients) c.disconnect()
      await cluster.stop()
    }
  }
})
