import { setTimeout as sleep } from 'node:timers/promises'
import type { Feature, FeatureContext } from '../feature.js'
import type { Exchange, StageAnswer, StreamObserver } from '../proxy/exchange.js'
import { cacheKey, cacheScope } from './cache-key.js'
import { decodeEntry, encodeEntry, replayHeaders, type CacheEntry } from './entry.js'
import { redisFillLock, type FillLock } from './fill-lock.js'
import { Flight, type FlightStart } from './flight.js'
import { memoryStore } from './memory-store.js'
import { cacheDirective, cacheTtl, isCacheableRequest, isCompleteAnswer } from './policy.js'
import { redisStore } from './redis-store.js'
import type { CacheStore } from './store.js'
import { storeHealth } from './store-health.js'

/** The cache's state for a request that goes upstream and may be stored (a MISS or a refresh). */
interface Lead {
  readonly key: string
  readonly ttl: number
  readonly flight: Flight
  /** Store the answer when complete (false for too large answers). */
  store: boolean
  /** The flight is in `flights`, so identical requests join it. */
  registered: boolean
  /** Chunks are being kept (for waiters and the store). */
  recording: boolean
  /** This request holds the cross-instance fill lock (Redis): released once stored. */
  lockToken: string | undefined
}

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
 * The response cache: the last stage of the pipeline.
 *
 * - `before`: for cacheable requests (policy.ts) looks the answer up and answers a hit
 *   itself (a body, or the stored SSE bytes as a stream); else joins an identical request
 *   in flight (coalescing, counted as a HIT with `age: 0`); else becomes that request's
 *   leader (MISS) and records what its client receives.
 * - `beforeSend` / the stream observer: tell the waiters how the leader's answer goes.
 * - `after`: stores complete, successful answers (status 200, stream terminal event seen).
 *
 * Store failures are misses: counted in `gateway_cache_errors_total{op}` and logged once
 * per outage. Hits restore the stored usage into `ex.usage`, so metering records the hit
 * at no cost and its would-be cost as saved.
 * @example features.push(createCacheFeature(ctx)) // last, after metering
 */
export function createCacheFeature (ctx: FeatureContext, options: CacheFeatureOptions = {}): Feature {
  const { config, metrics } = ctx
  const store = options.store ?? (ctx.redis !== undefined ? redisStore(ctx.redis) : memoryStore(config.CACHE_MEMORY_BYTES))
  // Read through the global on every call, so that a test's fake clock applies.
  const now = options.now ?? (() => Date.now())
  const maxEntry = config.CACHE_MAX_ENTRY_BYTES
  const flights = new Map<string, Flight>()
  const leads = new WeakMap<Exchange, Lead>()
  const health = storeHealth(ctx, store.kind)
  // The memory store hands out the same Buffer on every hit: decode it once (Redis gives new Buffers; they just miss here).
  const decoded = new WeakMap<Buffer, CacheEntry>()
  const lock: FillLock | undefined = options.lock === null ? undefined : options.lock ?? (ctx.redis !== undefined ? redisFillLock(ctx.redis, LOCK_MS) : undefined)

  const mark = (ex: Exchange, result: 'HIT' | 'MISS' | 'BYPASS'): void => {
    ex.cache = result
    ex.responseHeaders['x-gateway-cache'] = result
    metrics.cacheRequests.inc({ result: result.toLowerCase() })
  }

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

  const unregister = (lead: Lead): void => {
    if (lead.registered && flights.get(lead.key) === lead.flight) flights.delete(lead.key)
    lead.registered = false
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

  /** The request goes upstream as the flight's leader: record what its client receives. */
  const arm = (ex: Exchange, l: Lead): void => {
    leads.set(ex, l)
    ex.observers.push(recorder(ex, l))
    // The leader's client may leave; its followers still want the whole answer.
    ex.keepUpstreamOnAbort = () => l.flight.waiters > 0
  }

  /**
   * Non-stream requests with Redis: takes the fill lock, or, when another instance holds
   * it, waits for that instance's entry (up to LOCK_MS). Streams do not wait across
   * instances: only local waiters can follow the live bytes, and a remote waiter would
   * get nothing until the end.
   */
  const waitForOtherInstance = async (ex: Exchange, l: Lead): Promise<CacheEntry | undefined> => {
    if (lock === undefined || ex.stream) return undefined
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

  /** An entry another instance stored: answer this request and this instance's waiters with it. */
  const fromOtherInstance = (ex: Exchange, l: Lead, entry: CacheEntry): StageAnswer => {
    const f = l.flight
    f.doneAt = entry.storedAt
    if (entry.kind === 'body') {
      f.start({ kind: 'body', status: entry.status, headers: entry.headers, body: entry.body, usage: entry.usage })
    } else {
      f.start({ kind: 'stream', status: entry.status, headers: entry.headers })
      f.push(entry.body)
      f.end(true, entry.usage)
    }
    unregister(l)
    return hit(ex, entry, now())
  }

  /** Sees the leader's stream as its client receives it; keeps the chunks for waiters and the store. */
  const recorder = (ex: Exchange, l: Lead): StreamObserver => ({
    onChunk (chunk) {
      const f = l.flight
      if (!f.hasStarted) {
        const type = ex.upstreamHeaders?.['content-type']
        if (ex.status === 200 && typeof type === 'string' && type.startsWith('text/event-stream')) {
          f.start({ kind: 'stream', status: 200, headers: replayHeaders(ex) })
        } else {
          f.start({ kind: 'failed' })
          stopRecording(l)
        }
      }
      if (!l.recording) return
      f.push(chunk)
      if (f.bytes > maxEntry) {
        // Too large to store: no new joiners; keep the chunks only for those following already.
        l.store = false
        unregister(l)
        if (f.waiters === 0) stopRecording(l)
      }
    },
    onEnd (ex) {
      l.flight.doneAt = now()
      const complete = isCompleteAnswer(ex)
      l.flight.end(complete, ex.usage)
      // A broken stream is not replayed to anyone who comes later.
      if (!complete) unregister(l)
    }
  })

  const stopRecording = (l: Lead): void => {
    l.recording = false
    l.store = false
    l.flight.forget()
    unregister(l)
  }

  const save = async (l: Lead): Promise<void> => {
    const f = l.flight
    const s = f.startState
    if (s === undefined || s.kind === 'failed') return
    const body = s.kind === 'body' ? s.body : Buffer.concat(f.chunks, f.bytes)
    if (body.length > maxEntry) return
    const entry: CacheEntry = { kind: s.kind, status: s.status, headers: s.headers, storedAt: f.doneAt, ttl: l.ttl, usage: f.usage, body }
    try {
      await store.set(l.key, await encodeEntry(entry, store.kind === 'redis'), l.ttl)
      health.ok()
    } catch (err) {
      health.failed('set', err)
    }
  }

  const before = async (ex: Exchange): Promise<StageAnswer | undefined> => {
    if (!isCacheableRequest(ex)) return undefined
    const ttl = cacheTtl(ex.clientHeaders, ex.key.cache_ttl_seconds, config.CACHE_TTL_SECONDS)
    if (ttl <= 0) return undefined
    const directive = cacheDirective(ex.clientHeaders)
    const key = cacheKey({ method: ex.method, path: ex.upstreamPath, scope: cacheScope(config.CACHE_SCOPE, ex.key.id), body: ex.json })
    if (directive !== 'use') {
      mark(ex, 'BYPASS')
      // A refresh stores its fresh answer, but waits for no one and lets no one wait for it.
      if (directive === 'refresh') arm(ex, newLead(key, ttl, false))
      return undefined
    }
    for (let attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
      const entry = await lookup(key, ttl)
      if (entry !== undefined) return hit(ex, entry, now())
      const flight = flights.get(key)
      if (flight === undefined || (flight.ended && (!flight.complete || now() - flight.doneAt >= ttl * 1000))) break
      const s = await flight.join()
      if (s.kind !== 'failed') return coalesced(ex, flight, s)
    }
    const l = newLead(key, ttl, true)
    const remote = await waitForOtherInstance(ex, l)
    if (remote !== undefined) return fromOtherInstance(ex, l, remote)
    mark(ex, 'MISS')
    arm(ex, l)
    return undefined
  }

  const hit = (ex: Exchange, entry: CacheEntry, at: number): StageAnswer => {
    mark(ex, 'HIT')
    ex.responseHeaders.age = String(Math.max(0, Math.floor((at - entry.storedAt) / 1000)))
    if (entry.usage !== undefined) ex.usage = { ...entry.usage }
    if (entry.kind === 'body') return { kind: 'body', status: entry.status, headers: { ...entry.headers }, body: entry.body }
    return { kind: 'stream', status: entry.status, headers: { ...entry.headers }, chunks: once(entry.body) }
  }

  const coalesced = (ex: Exchange, flight: Flight, s: Exclude<FlightStart, { kind: 'failed' }>): StageAnswer => {
    mark(ex, 'HIT')
    // A flight that ended is waiting for its entry to be stored: it is that entry already.
    ex.responseHeaders.age = String(flight.ended ? Math.max(0, Math.floor((now() - flight.doneAt) / 1000)) : 0)
    if (s.kind === 'body') {
      if (s.usage !== undefined) ex.usage = { ...s.usage }
      return { kind: 'body', status: s.status, headers: { ...s.headers }, body: s.body }
    }
    const chunks = flight.follow((usage) => { if (usage !== undefined) ex.usage = { ...usage } })
    return { kind: 'stream', status: s.status, headers: { ...s.headers }, chunks }
  }

  return {
    name: 'cache',
    stage: {
      name: 'cache',
      before,
      beforeSend (ex) {
        const l = leads.get(ex)
        if (l === undefined) return
        if (isCompleteAnswer(ex)) {
          l.flight.doneAt = now()
          l.flight.start({ kind: 'body', status: ex.status, headers: replayHeaders(ex), body: ex.responseBody!, usage: ex.usage })
          if (ex.responseBody!.length > maxEntry) {
            // Those waiting have it; nobody else may get an answer that is not stored.
            l.store = false
            unregister(l)
          }
        } else {
          l.flight.start({ kind: 'failed' })
          stopRecording(l)
        }
      },
      async after (ex) {
        const l = leads.get(ex)
        if (l === undefined) return
        // Not answered at all (upstream unreachable, client gone): waiters go upstream themselves.
        l.flight.end(false, ex.usage)
        try {
          if (l.store && l.flight.complete) await save(l)
        } finally {
          // Only now: until the entry is stored, late arrivals still join the finished flight.
          unregister(l)
        }
        if (l.lockToken !== undefined) await lock?.release(l.key, l.lockToken)
      }
    }
  }
}

async function * once (body: Buffer): AsyncGenerator<Buffer> {
  yield body
}
