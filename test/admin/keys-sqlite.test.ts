import { keyStoreContract } from './keys-contract.js'

keyStoreContract('the embedded SQLite store', async () => ({ overrides: {}, stop: async () => {} }))
