import type { FastifyReply, FastifyRequest } from 'fastify'
import { gatewayError } from '../errors.js'
import { isKeyActive, type KeyRecord, type KeyResolver } from './key-record.js'
import { keyPrincipal, type KeyPrincipal, type TeamLimits } from './principal.js'

/** The secret of `Authorization: Bearer <secret>`, or undefined. */
export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8) return undefined
  // Case-insensitive "Bearer " without a regex or a lower-cased copy.
  if ((header.charCodeAt(0) | 0x20) !== 0x62 || header.slice(1, 7).toLowerCase() !== 'earer ') return undefined
  const token = header.slice(7).trim()
  return token.length > 0 ? token : undefined
}

/** What an error message may show of a presented key: never the secret itself. */
export function maskKey (secret: string): string {
  return secret.length <= 10 ? '***' : `${secret.slice(0, 6)}…${secret.slice(-2)}`
}

/**
 * The onRequest hook for client routes: resolves the bearer key (from the in-process key
 * cache; no store round trip on the hot path) before the body is read, so an unknown key
 * cannot make us read 32 MB. The key's team comes from the resolver's in-process team
 * directory as well. A callback hook, not an async one: a cached key costs no promise
 * (bench/micro/hooks.ts).
 * @example app.addHook('onRequest', authenticate(resolver))
 */
export function authenticate (resolver: KeyResolver, now: () => number = Date.now) {
  const admit = (request: FastifyRequest, principal: KeyPrincipal | undefined, secret: string, done: (err?: Error) => void): void => {
    if (principal === undefined) return done(gatewayError('GW_ERR_INVALID_API_KEY', [maskKey(secret)]))
    request.principal = principal
    done()
  }
  return function authHook (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
    const secret = bearerToken(request.headers.authorization)
    if (secret === undefined) return done(gatewayError('GW_ERR_MISSING_API_KEY'))
    const found = resolvePrincipal(resolver, secret, now)
    if (found instanceof Promise) found.then((p) => { admit(request, p, secret, done) }, done)
    else admit(request, found, secret, done)
  }
}

/**
 * The principal of a presented secret (the key and its team), or undefined for an
 * unknown, revoked or expired key. Synchronous when the key cache and the team directory
 * have them (the common case).
 */
export function resolvePrincipal (resolver: KeyResolver, secret: string, now: () => number = Date.now): KeyPrincipal | undefined | Promise<KeyPrincipal | undefined> {
  const found = resolver.resolve(secret)
  return found instanceof Promise ? found.then((key) => withTeam(resolver, key, now)) : withTeam(resolver, found, now)
}

function withTeam (resolver: KeyResolver, key: KeyRecord | undefined, now: () => number): KeyPrincipal | undefined | Promise<KeyPrincipal | undefined> {
  if (key === undefined || !isKeyActive(key, now())) return undefined
  if (key.team_id === null || resolver.team === undefined) return keyPrincipal(key)
  const team = resolver.team(key.team_id)
  const make = (t: TeamLimits | undefined): KeyPrincipal => keyPrincipal(key, t ?? null)
  return team instanceof Promise ? team.then(make) : make(team)
}
