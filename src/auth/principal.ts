import type { Principal } from '../proxy/interceptor.js'
import type { KeyRecord } from './key-record.js'

/**
 * The principal of a request made with a gateway key: what the request path's
 * interceptors (limits, metering, cache, access) read about the caller. The relay itself
 * sees only `Principal`.
 */
export interface KeyPrincipal extends Principal {
  readonly key: KeyRecord
}

/** The principal for an authenticated key (no team until teams exist). */
export function keyPrincipal (key: KeyRecord): KeyPrincipal {
  return { id: key.id, name: key.name, teamId: null, teamName: null, key }
}
