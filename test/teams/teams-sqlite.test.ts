import { teamStoreContract } from './teams-contract.js'

teamStoreContract('the embedded SQLite store', async () => ({ overrides: {}, stop: async () => {} }))
