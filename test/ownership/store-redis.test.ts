import { Redis } from 'ioredis'
import { startRedis } from '../helpers/redis.js'
import { createRedisOwnershipStore } from '../../src/ownership/redis-store.js'
import { ownershipStoreContract } from './store-contract.js'

ownershipStoreContract('Redis ownership store', async () => {
  const server = await startRedis()
  const clients: Redis[] = []
  const open = (): ReturnType<typeof createRedisOwnershipStore> => {
    const c = new Redis(server.url, { maxRetriesPerRequest: 1 })
    clients.push(c)
    return createRedisOwnershipStore(c)
  }
  return {
    store: open(),
    second: async () => open(),
    close: async () => {
      for (const c of clients) c.disconnect()
      await server.stop()
    }
  }
})
