import type { IncomingHttpHeaders } from 'node:http'

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the ones a proxy must own itself. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade'
])

/**
 * Client headers that go upstream. An allow-list, not a deny-list: the client's
 * Authorization (a gateway key), cookies and anything else stay here.
 */
const FORWARD_REQUEST = new Set([
  'content-type', 'accept', 'idempotency-key', 'openai-beta', 'user-agent', 'traceparent', 'tracestate'
])

/** Upstream response headers the client never sees (we set our own length and cookies are not ours to pass). */
const DROP_RESPONSE = new Set([...HOP_BY_HOP, 'content-length', 'set-cookie', 'date', 'server', 'alt-svc', 'strict-transport-security', 'cf-ray', 'cf-cache-status'])

/**
 * The headers for the upstream request.
 * `accept-encoding: identity` so metering and the cache read plain bytes.
 */
export function upstreamRequestHeaders (client: IncomingHttpHeaders, authorization: string | undefined, requestId: string): Record<string, string> {
  const out: Record<string, string> = { 'accept-encoding': 'identity', 'x-request-id': requestId }
  if (authorization !== undefined) out.authorization = authorization
  for (const name of FORWARD_REQUEST) {
    const v = client[name]
    if (typeof v === 'string') out[name] = v
  }
  return out
}

/** Names listed in a Connection header are hop-by-hop too. */
function connectionListed (value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined
  const names = (Array.isArray(value) ? value.join(',') : value).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  return names.length > 0 ? new Set(names) : undefined
}

/** The upstream's response headers the client gets (end-to-end ones only). */
export function clientResponseHeaders (upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  // Almost every upstream answers `connection: keep-alive`, which names only a header that is
  // dropped anyway: skip the split/trim/Set (bench/micro/headers.ts: 370-450 → 170-290 ns).
  const connection = upstream.connection
  const listed = connection === 'keep-alive' ? undefined : connectionListed(connection)
  const out: Record<string, string | string[]> = {}
  for (const name in upstream) {
    const v = upstream[name]
    if (v === undefined || DROP_RESPONSE.has(name) || listed?.has(name)) continue
    out[name] = v
  }
  return out
}

/** A request id from the client's `x-request-id` when it is sane, else undefined. */
export function clientRequestId (value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 200 && /^[\w.:@/+=-]+$/.test(value) ? value : undefined
}
