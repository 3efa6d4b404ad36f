import { rotationContract } from './rotation-contract.js'

rotationContract('the embedded SQLite store', async () => ({ overrides: {}, stop: async () => {} }))
