import type { IncomingHttpHeaders } from 'node:http'
import type { GatewayRequest, Outcome } from '../proxy/interceptor.js'
import { sseData, sseEventName } from '../proxy/sse-scanner.js'

/** Longest TTL a request header may ask for (30 days): Redis EX takes any int, but a typo should not pin an entry for years. */
export const MAX_TTL_SECONDS = 30 * 24 * 3600

/**
 * Seconds to cache this request's answer; 0 = caching does not apply. As documented in the README,
 * the most specific setting wins:
 * 1. the request's `x-gateway-cache-ttl: <seconds>` (0 turns caching off for this request;
 *    a value that is not a whole number is ignored);
 * 2. the key's `cache_ttl_seconds` when > 0;
 * 3. `CACHE_TTL_SECONDS`.
 */
export function cacheTtl (headers: IncomingHttpHeaders, keyTtl: number | null | undefined, globalTtl: number): number {
  const raw = headers['x-gateway-cache-ttl']
  if (typeof raw === 'string' && /^\s*\d+\s*$/.test(raw)) return Math.min(Number(raw), MAX_TTL_SECONDS)
  if (keyTtl !== null && keyTtl !== undefined && keyTtl > 0) return keyTtl
  return globalTtl
}

/**
 * What the client asks of the cache:
 * - `use`: look up, and store on a miss;
 * - `refresh`: `cache-control: no-cache` or `x-gateway-cache: bypass`: skip the lookup,
 *   go upstream, and store the fresh answer;
 * - `no-store`: `cache-control: no-store`: skip the lookup and store nothing.
 */
export type CacheDirective = 'use' | 'refresh' | 'no-store'

export function cacheDirective (headers: IncomingHttpHeaders): CacheDirective {
  const cc = headers['cache-control']
  if (typeof cc === 'string' && cc !== '') {
    const parts = cc.toLowerCase().split(',').map((s) => s.trim())
    if (parts.includes('no-store')) return 'no-store'
    if (parts.includes('no-cache')) return 'refresh'
  }
  const gw = headers['x-gateway-cache']
  if (typeof gw === 'string' && gw.trim().toLowerCase() === 'bypass') return 'refresh'
  return 'use'
}

/**
 * Caching applies to POST requests with a JSON object body (chat, responses, embeddings,
 * compact…), not to GETs (the relay's business) nor uploads. `background: true` Responses
 * are left out: their answer is a snapshot of a job in progress.
 */
export function isCacheableRequest (ex: Pick<GatewayRequest, 'method' | 'json'>): boolean {
  return ex.method === 'POST' && ex.json !== undefined && ex.json.background !== true
}

/** What the cache saw of an answer, to decide whether it may be stored. */
export interface SeenAnswer {
  readonly status: number
  readonly outcome: Outcome
  /** The whole body of a buffered answer; undefined for a stream. */
  readonly responseBody: Buffer | undefined
  /** What the SSE framer found in a stream. */
  readonly sse: { readonly sawDone: boolean, readonly lastEvent: Buffer | undefined } | undefined
  readonly upstreamHeaders: Readonly<Record<string, string | string[] | undefined>> | undefined
}

/** Terminal Responses API events after which a stream is a whole, successful answer. */
const COMPLETE_EVENTS = new Set(['response.completed'])

/**
 * True when the client received a complete, successful answer that may be stored:
 * status 200, nothing broke (`outcome` ok), and either a buffered JSON body or an SSE
 * stream that reached its terminal event (`data: [DONE]` for chat, `response.completed`
 * for the Responses API). Other content (audio, files) is not stored.
 */
export function isCompleteAnswer (ex: SeenAnswer): boolean {
  if (ex.status !== 200 || ex.outcome !== 'ok') return false
  const type = ex.upstreamHeaders?.['content-type']
  if (typeof type !== 'string') return false
  if (ex.responseBody !== undefined) return type.includes('json')
  if (!type.startsWith('text/event-stream') || ex.sse === undefined) return false
  if (ex.sse.sawDone) return true
  const last = ex.sse.lastEvent
  return last !== undefined && COMPLETE_EVENTS.has(eventType(last) ?? '')
}

/** The `event:` name of an SSE event, or the `type` of its JSON data when it has no name line. */
function eventType (event: Buffer): string | undefined {
  const name = sseEventName(event)
  if (name !== undefined) return name
  const data = sseData(event)
  if (data === undefined || data[0] !== '{') return undefined
  try {
    const type = (JSON.parse(data) as { type?: unknown }).type
    return typeof type === 'string' ? type : undefined
  } catch {
    return undefined
  }
}
