import { cacheContract } from './cache-contract.js'

cacheContract('in-process memory store', async () => ({ overrides: {}, close: async () => {} }), { outage: false, instances: false })
