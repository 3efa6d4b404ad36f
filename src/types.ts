import type { KeyRecord } from './auth/key-record.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated gateway key (set by the auth hook on /v1 routes). */
    gatewayKey: KeyRecord | undefined
  }
}

export {}
