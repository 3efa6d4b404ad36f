import { randomBytes, randomUUID } from 'node:crypto'
import { group } from './harness.js'

/**
 * The request id every request gets (src/app.ts `newRequestId`): 12 random bytes as hex
 * take a synchronous CSPRNG call each; `randomUUID()` draws from a cached pool of entropy.
 */
export function requestIdBench (timeMs?: number): string {
  return group('Request id', [
    { name: "'req_' + randomBytes(12).toString('hex') (src/app.ts)", fn: () => 'req_' + randomBytes(12).toString('hex') },
    { name: "'req_' + randomUUID() (pooled entropy)", fn: () => 'req_' + randomUUID() }
  ], timeMs)
}
