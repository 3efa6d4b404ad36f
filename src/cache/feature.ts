import type { Feature, FeatureContext } from '../feature.js'
import type { Exchange, StageAnswer, StreamObserver } from '../proxy/exchange.js'
import { cacheKey, cacheScope } from './cache-key.js'
import { decodeEntry, encodeEntry, REPLAYED_HEADERS, type CacheEntry } from './entry.js'
import { Flight, type FlightStart } from './flight.js'
import { memoryStore } from './memory-store.js'
import { cacheDirective, cacheTtl, isCacheableRequest, isCompleteAnswer } from './policy.js'
import { redisStore } from './redis-store.js'
import type { CacheStore } from './store.js'

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
}

/** Rounds of "look up, else join the request in flight" before a request goes upstream alone. */
const JOIN_ATTEMPTS = 3

export interface CacheFeatureOptions {
  /** The store; by default Redis when configured, else the in-process LRU. */
  store?: CacheStore
  /** Epoch milliseconds (entry age and expiry); injectable for tests. */
  now?: () => number
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
    const entry = buf === undefined ? undefined : await decodeEntry(buf).catch(() => undefined)
    if (entry === undefined) return undefined
    // The request's own TTL bounds the age it accepts, like max-age.
    return now() - entry.storedAt < Math.min(entry.ttl, ttl) * 1000 ? entry : undefined
  }

  const unregister = (lead: Lead): void => {
    if (lead.registered && flights.get(lead.key) === lead.flight) flights.delete(lead.key)
    lead.registered = false
  }

  const lead = (ex: Exchange, key: string, ttl: number, register: boolean): void => {
    const l: Lead = { key, ttl, flight: new Flight(), store: true, registered: false, recording: true }
    if (register && !flights.has(key)) {
      flights.set(key, l.flight)
      l.registered = true
    }
    leads.set(ex, l)
    ex.observers.push(recorder(ex, l))
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
      l.flight.end(isCompleteAnswer(ex), ex.usage)
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
      if (directive === 'refresh') lead(ex, key, ttl, false)
      return undefined
    }
    for (let attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
      const entry = await lookup(key, ttl)
      if (entry !== undefined) return hit(ex, entry, now())
      const flight = flights.get(key)
      if (flight === undefined || (flight.ended && now() - flight.doneAt >= ttl * 1000)) break
      const s = await flight.join()
      if (s.kind !== 'failed') return coalesced(ex, flight, s)
    }
    mark(ex, 'MISS')
    lead(ex, key, ttl, true)
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
      }
    }
  }
}

/** The upstream headers a replay carries (content type and the model/version headers). */
function replayHeaders (ex: Exchange): Record<string, string> {
  const out: Record<string, string> = {}
  const h = ex.upstreamHeaders
  if (h === undefined) return out
  for (const name of REPLAYED_HEADERS) {
    const v = h[name]
    if (typeof v === 'string') out[name] = v
  }
  return out
}

async function * once (body: Buffer): AsyncGenerator<Buffer> {
  yield body
}

/** Counts store failures and logs them once per outage (a dead Redis must not flood the log). */
function storeHealth (ctx: FeatureContext, kind: string): { ok (): void, failed (op: 'get' | 'set', err: unknown): void } {
  let down = false
  return {
    ok () {
      if (!down) return
      down = false
      ctx.log.info({ store: kind }, 'cache store answers again')
    },
    failed (op, err) {
      ctx.metrics.cacheErrors.inc({ op })
      if (down) return
      down = true
      ctx.log.warn({ store: kind, op, err: (err as Error)?.message }, 'cache store failing: serving misses')
    }
  }
}
