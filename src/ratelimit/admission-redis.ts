import { randomBytes } from 'node:crypto'
import { Cluster } from 'ioredis'
import type { RedisClient } from '../store/redis.js'
import { reservationKeys } from '../metering/ledger-redis.js'
import { bucketView, LimiterUnavailableError } from './limiter.js'
import { ADMIT_LUA, RENEW_RESERVED_LUA, SETTLE_RESERVED_LUA } from './redis-scripts.js'
import { periodField, type Actual, type Admission, type AdmissionDecision, type AdmissionLimit, type Subject, type SubjectView, type Ticket } from './admission.js'
import type { Claim } from './reservation.js'

type Arg = string | number
interface ScriptedClient {
  gwAdmit (numKeys: number, ...args: Arg[]): Promise<Array<number | string>>
  gwSettleReserved (numKeys: number, ...args: Arg[]): Promise<Array<number | string>>
  gwRenewReserved (k1: string, k2: string, k3: string, ...args: Arg[]): Promise<number>
}

export interface RedisAdmissionOptions {
  readonly clock?: () => number
  /** An open reservation ends this long after its last renewal (a dead instance's come back). */
  readonly leaseMs?: number
  /** A settled cost the ledger has not stored yet stays counted this long at most. */
  readonly pendingMs?: number
  /** Ceiling on one call, ms (REDIS_COMMAND_TIMEOUT_MS plus a little). */
  readonly timeoutMs?: number
  readonly onRenewError?: (err: unknown) => void
}

/** Rejects with LimiterUnavailableError when `p` fails or takes longer than `ms`. */
async function guarded<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new LimiterUnavailableError(`limits store gave no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } catch (err) {
    if (err instanceof LimiterUnavailableError) throw err
    throw new LimiterUnavailableError(`limits store unreachable: ${(err as Error).message}`, { cause: err })
  } finally {
    clearTimeout(timer)
  }
}

const REFUSED: readonly (AdmissionLimit | undefined)[] = [undefined, 'budget', 'rpm', 'tpm', 'concurrency']
const FIELDS = 7

/** The five keys of a subject (sum, rl, o, p, a), in its ledger hash tag. */
function keysOf (s: Subject): readonly string[] {
  return reservationKeys(s.scope, s.id)
}

/**
 * The shared backend. `admit` and `settle` are one Lua script each over every subject
 * of the request (one round trip, atomic), on a single Redis. On Redis Cluster a key and
 * its team live in different slots, so each subject gets its own script, key first; a
 * team that refuses then gives the key's reservation back (the key's rpm request stays
 * taken: it was asked for). Each subject's own check stays atomic, which is what bounds
 * its budget.
 * @example const admission = createRedisAdmission(redis, { timeoutMs: config.REDIS_COMMAND_TIMEOUT_MS + 100 })
 */
export function createRedisAdmission (redis: RedisClient, options: RedisAdmissionOptions = {}): Admission {
  const clock = options.clock ?? Date.now
  const leaseMs = options.leaseMs ?? 60_000
  const pendingMs = options.pendingMs ?? 300_000
  const timeoutMs = options.timeoutMs ?? 1000
  const ttl = Math.max(leaseMs, pendingMs) * 2
  const cluster = redis instanceof Cluster
  if (typeof (redis as unknown as { gwAdmit?: unknown }).gwAdmit !== 'function') {
    redis.defineCommand('gwAdmit', { lua: ADMIT_LUA })
    redis.defineCommand('gwSettleReserved', { lua: SETTLE_RESERVED_LUA })
    redis.defineCommand('gwRenewReserved', { numberOfKeys: 3, lua: RENEW_RESERVED_LUA })
  }
  const scripts = redis as unknown as ScriptedClient
  const instance = randomBytes(6).toString('base64url')
  let next = 0
  /** Open tickets of this process, renewed until they settle. */
  const open = new Map<string, Ticket>()

  const renew = async (): Promise<void> => {
    const expiry = Math.floor(clock()) + leaseMs
    const bySubject = new Map<string, { keys: readonly string[], ids: string[] }>()
    for (const t of open.values()) {
      for (const s of t.subjects) {
        const k = s.scope + ':' + s.id
        let e = bySubject.get(k)
        if (e === undefined) bySubject.set(k, e = { keys: keysOf(s), ids: [] })
        e.ids.push(t.id)
      }
    }
    await Promise.all([...bySubject.values()].map(async ({ keys, ids }) => {
      try {
        await guarded(scripts.gwRenewReserved(keys[1]!, keys[2]!, keys[4]!, expiry, ttl, ...ids), timeoutMs)
      } catch (err) {
        options.onRenewError?.(err)
      }
    }))
  }
  const timer = setInterval(() => { if (open.size > 0) renew().catch(() => {}) }, Math.max(10, Math.floor(leaseMs / 3)))
  timer.unref()

  const admitGroup = async (subjects: readonly Subject[], id: string, claim: Claim, now: number): Promise<Array<number | string>> => {
    const keys: string[] = []
    const argv: Arg[] = [now, now + leaseMs, id, claim.nanos, claim.tokens, subjects.length, ttl]
    for (const s of subjects) {
      keys.push(...keysOf(s))
      argv.push(s.rpm ?? 0, s.tpm ?? 0, s.maxConcurrency ?? 0, s.budget?.nanos ?? -1, s.budget !== null ? periodField(s.budget.period, now) : '')
    }
    return await guarded(scripts.gwAdmit(keys.length, ...keys, ...argv), timeoutMs)
  }

  const settleGroup = async (subjects: readonly Subject[], id: string, actual: Actual, now: number): Promise<Array<number | string>> => {
    const keys: string[] = []
    const argv: Arg[] = [now, now + pendingMs, id, Math.max(0, Math.round(actual.nanos)), Math.max(0, Math.floor(actual.tokens)), subjects.length, ttl]
    for (const s of subjects) {
      keys.push(...keysOf(s))
      argv.push(s.tpm ?? 0, s.budget !== null ? 1 : 0, s.budget !== null ? periodField(s.budget.period, now) : '')
    }
    return await guarded(scripts.gwSettleReserved(keys.length, ...keys, ...argv), timeoutMs)
  }

  const decide = (subjects: readonly Subject[], reply: ReadonlyArray<number | string>): { views: SubjectView[], refusedBy: number, limit: AdmissionLimit | undefined, retryMs: number } => {
    let refusedBy = -1
    let limit: AdmissionLimit | undefined
    let retryMs = 0
    const views = subjects.map((s, i) => {
      const [code = 0, retry = 0, rl = 0, tl = 0, inFlight = 0, spent = -1, held = 0] = reply.slice(i * FIELDS, i * FIELDS + FIELDS).map(Number)
      const refused = REFUSED[code]
      if (refused !== undefined) {
        if (refusedBy < 0) { refusedBy = i; limit = refused }
        if (refused !== 'budget') retryMs = Math.max(retryMs, retry)
      }
      return {
        requests: bucketView(s.rpm, rl, refused === 'rpm'),
        tokens: bucketView(s.tpm, tl, refused === 'tpm'),
        spentNanos: s.budget !== null && spent >= 0 ? spent : undefined,
        heldNanos: held,
        inFlight
      }
    })
    return { views, refusedBy, limit, retryMs }
  }

  const groups = (subjects: readonly Subject[]): Array<readonly Subject[]> => cluster && subjects.length > 1 ? subjects.map((s) => [s]) : [subjects]

  return {
    kind: 'redis',
    async admit (subjects, claim): Promise<AdmissionDecision> {
      const now = Math.floor(clock())
      const id = `${instance}:${next++}`
      const views: SubjectView[] = []
      const passed: Subject[] = []
      for (const group of groups(subjects)) {
        const d = decide(group, await admitGroup(group, id, claim, now).catch(async (err: unknown) => {
          // No answer in time. A paused Redis still runs the script once it resumes, and
          // would hold a reservation nobody settles until its lease ends: a release sent
          // now runs right after it (same connection, in order). Earlier groups too.
          settleGroup([...passed, ...group], id, { tokens: 0, nanos: 0 }, now).catch(() => {})
          throw err
        }))
        if (d.limit !== undefined) {
          if (passed.length > 0) await settleGroup(passed, id, { tokens: 0, nanos: 0 }, now).catch(() => {})
          return { allowed: false, refusedBy: views.length + d.refusedBy, limit: d.limit, retryAfterMs: d.limit === 'budget' ? 0 : d.retryMs, views: [...views, ...d.views], claim }
        }
        views.push(...d.views)
        passed.push(...group)
      }
      const ticket: Ticket = { id, subjects, claim }
      open.set(id, ticket)
      return { allowed: true, ticket, views }
    },

    async settle (ticket, actual) {
      // Stop renewing first: if the call below fails, the lease still expires (or the ledger clears it).
      open.delete(ticket.id)
      const now = Math.floor(clock())
      const out: Array<number | undefined> = []
      for (const group of groups(ticket.subjects)) {
        const reply = await settleGroup(group, ticket.id, actual, now)
        for (let i = 0; i < group.length; i++) {
          const v = Number(reply[i] ?? -1)
          out.push(group[i]!.budget !== null && v >= 0 ? v : undefined)
        }
      }
      return out
    },

    async close () {
      clearInterval(timer)
    }
  }
}
