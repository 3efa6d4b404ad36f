import { setTimeout as sleep } from 'node:timers/promises'
import type { KeyPrincipal } from '../auth/principal.js'
import type { Feature, FeatureContext } from '../feature.js'
import { gatewayError } from '../errors.js'
import { refuse, type Dispatch, type GatewayRequest, type Interceptor, type ResponseHandler } from '../proxy/interceptor.js'
import { answerFromEntry, Follower } from './answers.js'
import { cacheKey, cacheScope } from './cache-key.js'
import { decodeEntry, encodeEntry, type CacheEntry } from './entry.js'
import { redisFillLock, type FillLock } from './fill-lock.js'
import { Flight, type FlightStart } from './flight.js'
import { BypassHandler, LeaderHandler, type Lead, type LeadOwner } from './leader.js'
import { memoryStore } from './memory-store.js'
import { cacheDirective, cacheTtl, isCacheableRequest } from './policy.js'
import { redisStore } from './redis-store.js'
import type { CacheStore } from './store.js'
import { storeHealth } from './store-health.js'

/** Rounds of "look up, else join the request in flight" before a request goes upstream alone. */
const JOIN_ATTEMPTS = 3
/** How long the fill lock lasts, and how long another instance's identical request waits for its entry (ms). */
const LOCK_MS = 30_000
/** First and longest pause between two looks at the store while another instance fills the entry (ms). */
const POLL_FIRST_MS = 20
const POLL_MAX_MS = 200

export interface CacheFeatureOptions {
  /** The store; by default Redis when configured, else the in-process LRU. */
  store?: CacheStore
  /** Epoch milliseconds (entry age and expiry); injectable for tests. */
  now?: () => number
  /** Cross-instance coalescing; by default a Redis lock when Redis is configured. `null`: none. */
  lock?: FillLock | null
}

/**
 * The response cache, as the innermost feature interceptor (just before the upstream):
 * - cacheable requests (policy.ts) are looked up; a hit is answered here (a body, or the
 *   stored SSE bytes as a stream) with `x-gateway-cache: HIT` and `age`;
 * - else an identical request in flight is joined (coalescing, a HIT with `age: 0`);
 * - else the request goes on as that key's leader (MISS): its handler records what comes
 *   back for the waiters and stores complete, successful answers (status 200, stream
 *   terminal event seen). `cache-control: no-cache` / `x-gateway-cache: bypass` skip the
 *   lookup and refresh the entry (BYPASS).
 * Limits and metering sit outside, so a hit counts for rpm and metering sees the HIT
 * header (cost 0, saved = what it would have cost). Store failures are misses: counted
 * in `gateway_cache_errors_total{op}` and logged once per outage.
 * @example const cache = createCacheFeature(ctx) // its interceptor goes last, before the upstream
 */
export function createCacheFeature (ctx: FeatureContext, options: CacheFeatureOptions = {}): Feature {
  const { config, metrics } = ctx
  const store = options.store ?? (ctx.redis !== undefined ? redisStore(ctx.redis) : memoryStore(config.CACHE_MEMORY_BYTES))
  // Read through the global on every call, so that a test's fake clock applies.
  const now = options.now ?? (() => Date.now())
  const maxEntry = config.CACHE_MAX_ENTRY_BYTES
  const flights = new Map<string, Flight>()
  const health = storeHealth(ctx, store.kind)
  // The memory store hands out the same Buffer on every hit: decode it once (Redis gives new Buffers; they just miss here).
  const decoded = new WeakMap<Buffer, CacheEntry>()
  const lock: FillLock | undefined = options.lock === null ? undefined : options.lock ?? (ctx.redis !== undefined ? redisFillLock(ctx.redis, LOCK_MS) : undefined)

  const count = (result: 'HIT' | 'MISS' | 'BYPASS'): void => { metrics.cacheRequests.inc({ result: result.toLowerCase() }) }

  /** A live stored entry for the key, fresh enough for this request's TTL; undefined on a miss or a store failure. */
  const lookup = async (key: string, ttl: number): Promise<CacheEntry | undefined> => {
    let buf: Buffer | undefined
    try {
      buf = await store.get(key)
      health.ok()
    } catch (err) {
      health.failed('get', err)
      return undefined
    }
    if (buf === undefined) return undefined
    let entry = decoded.get(buf)
    if (entry === undefined) {
      entry = await decodeEntry(buf).catch(() => undefined)
      if (entry === undefined) return undefined
      if (store.kind === 'memory') decoded.set(buf, entry)
    }
    // The request's own TTL bounds the age it accepts, like max-age.
    return now() - entry.storedAt < Math.min(entry.ttl, ttl) * 1000 ? entry : undefined
  }

  const save = async (l: Lead): Promise<void> => {
    const f = l.flight
    const s = f.startState
    if (s === undefined || s.kind === 'failed') return
    const body = s.kind === 'body' ? s.body : Buffer.concat(f.chunks, f.bytes)
    if (body.length > maxEntry) return
    const entry: CacheEntry = { kind: s.kind, status: s.status, headers: s.headers, storedAt: f.doneAt, ttl: l.ttl, body }
    try {
      await store.set(l.key, await encodeEntry(entry, store.kind === 'redis'), l.ttl)
      health.ok()
    } catch (err) {
      health.failed('set', err)
    }
  }

  const owner: LeadOwner = {
    maxEntry,
    now,
    unregister (l) {
      if (l.registered && flights.get(l.key) === l.flight) flights.delete(l.key)
      l.registered = false
    },
    finish (l) {
      (async () => {
        try {
          if (l.store && l.flight.complete) await save(l)
        } finally {
          // Only now: until the entry is stored, late arrivals still join the finished flight.
          owner.unregister(l)
        }
        if (l.lockToken !== undefined) await lock?.release(l.key, l.lockToken)
      })().catch((err: unknown) => { ctx.log.error({ err }, 'cache store after answer failed') })
    }
  }

  /** A new flight for the key; `register` lets identical requests of this instance join it. */
  const newLead = (key: string, ttl: number, register: boolean): Lead => {
    const l: Lead = { key, ttl, flight: new Flight(), store: true, registered: false, recording: true, lockToken: undefined }
    if (register && !flights.has(key)) {
      flights.set(key, l.flight)
      l.registered = true
    }
    return l
  }

  /**
   * Non-stream requests with Redis: takes the fill lock, or, when another instance holds
   * it, waits for that instance's entry (up to LOCK_MS). Streams do not wait across
   * instances: only local waiters can follow the live bytes, and a remote waiter would
   * get nothing until the end.
   */
  const waitForOtherInstance = async (stream: boolean, l: Lead): Promise<CacheEntry | undefined> => {
    if (lock === undefined || stream) return undefined
    l.lockToken = await lock.acquire(l.key)
    if (l.lockToken !== undefined) return undefined
    const end = performance.now() + LOCK_MS
    for (let pause = POLL_FIRST_MS; performance.now() < end; pause = Math.min(pause * 2, POLL_MAX_MS)) {
      await sleep(pause)
      const entry = await lookup(l.key, l.ttl)
      if (entry !== undefined) return entry
      // Released without an entry (its answer failed): go upstream. One more look first, in
      // case it stored and released between the two calls.
      if (!(await lock.held(l.key))) return await lookup(l.key, l.ttl)
    }
    return undefined
  }

  /** An entry another instance stored: this instance's waiters get it too. */
  const fromOtherInstance = (l: Lead, entry: CacheEntry): void => {
    const f = l.flight
    f.doneAt = entry.storedAt
    if (entry.kind === 'body') {
      f.start({ kind: 'body', status: entry.status, headers: entry.headers, body: entry.body, usage: undefined })
    } else {
      f.start({ kind: 'stream', status: entry.status, headers: entry.headers })
      f.push(entry.body)
      f.end(true, undefined)
    }
    owner.unregister(l)
  }

  const hit = (handler: ResponseHandler, entry: CacheEntry): void => {
    count('HIT')
    answerFromEntry(handler, entry, Math.max(0, Math.floor((now() - entry.storedAt) / 1000)))
  }

  const coalesced = (handler: ResponseHandler, flight: Flight, s: Exclude<FlightStart, { kind: 'failed' }>): void => {
    count('HIT')
    // A flight that ended is waiting for its entry to be stored: it is that entry already.
    const age = flight.ended ? Math.max(0, Math.floor((now() - flight.doneAt) / 1000)) : 0
    if (s.kind === 'body') {
      answerFromEntry(handler, { kind: 'body', status: s.status, headers: s.headers, body: s.body, storedAt: 0, ttl: 1 }, age)
      return
    }
    new Follower(handler, flight, { status: s.status, headers: { ...s.headers, 'x-gateway-cache': 'HIT', age: String(age) }, kind: 'sse' }).run().catch((err: unknown) => {
      ctx.log.error({ err }, 'coalesced stream failed')
    })
  }

  /** Look up, else join the request in flight, else go upstream as the leader. */
  const serve = async (req: GatewayRequest<KeyPrincipal>, handler: ResponseHandler, next: Dispatch<KeyPrincipal>, key: string, ttl: number): Promise<void> => {
    for (let attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
      const entry = await lookup(key, ttl)
      if (entry !== undefined) return hit(handler, entry)
      const flight = flights.get(key)
      if (flight === undefined || (flight.ended && (!flight.complete || now() - flight.doneAt >= ttl * 1000))) break
      const s = await flight.join()
      if (s.kind !== 'failed') return coalesced(handler, flight, s)
    }
    const l = newLead(key, ttl, true)
    const remote = await waitForOtherInstance(req.stream, l)
    if (remote !== undefined) {
      fromOtherInstance(l, remote)
      return hit(handler, remote)
    }
    count('MISS')
    next(req, new LeaderHandler(handler, l, 'MISS', owner))
  }

  const interceptor: Interceptor<KeyPrincipal> = (next) => function cache (req, handler) {
    if (!isCacheableRequest(req)) return next(req, handler)
    const key = req.principal.key
    const ttl = cacheTtl(req.headers, key.cache_ttl_seconds, config.CACHE_TTL_SECONDS)
    if (ttl <= 0) return next(req, handler)
    const directive = cacheDirective(req.headers)
    const id = cacheKey({ method: req.method, path: req.path, scope: cacheScope(config.CACHE_SCOPE, key.id), body: req.json })
    if (directive !== 'use') {
      count('BYPASS')
      // A refresh stores its fresh answer, but waits for no one and lets no one wait for it.
      if (directive === 'refresh') return next(req, new LeaderHandler(handler, newLead(id, ttl, false), 'BYPASS', owner))
      return next(req, new BypassHandler(handler))
    }
    serve(req, handler, next, id, ttl).catch((err: unknown) => {
      ctx.log.error({ err, reqId: req.id }, 'cache lookup failed')
      refuse(handler, gatewayError('GW_ERR_INTERNAL', [], { cause: err }))
    })
  }

  return { name: 'cache', interceptor }
}
