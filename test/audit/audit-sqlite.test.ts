import { auditContract } from './audit-contract.js'

auditContract('the embedded SQLite store', async () => ({ overrides: {}, stop: async () => {} }))
