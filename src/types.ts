import type { KeyPrincipal } from './auth/principal.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who calls: the authenticated gateway key (set by the auth hook on /v1 routes). */
    principal: KeyPrincipal | undefined
  }
}

export {}
