import type { IncomingHttpHeaders } from 'node:http'

/**
 * What crosses the gateway in headers, both ways.
 *
 * Upstream: every client header except the ones that are the client's credentials, the
 * connection's own, or the gateway's to set. Users need `openai-organization`,
 * `openai-project`, `openai-beta`, `idempotency-key`, `x-stainless-*` and their own
 * headers; an allow-list would drop them one by one.
 *
 * Downstream: the upstream's end-to-end headers, except its request id (the client gets
 * its own id back, or the gateway's; the upstream's goes to the log line), its
 * `x-ratelimit-*` (they describe the shared account, not the key; the gateway writes
 * its own for keys with limits), anything claiming to be the gateway's (`x-gateway-*`)
 * and the few a proxy must own (length, cookies, transport).
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1), and `expect`, which undici refuses to send. */
const HOP_BY_HOP = [
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade'
]

/** Client headers that never go upstream (besides `x-forwarded-*`, `x-gateway-*` and Connection-listed ones). */
const DROP_REQUEST = new Set([
  ...HOP_BY_HOP,
  // The client's credentials: a gateway key or a browser's session is not the upstream's business.
  'authorization', 'x-api-key', 'api-key', 'cookie',
  // Set by the gateway (or by undici from the body it sends).
  'host', 'content-length', 'accept-encoding', 'x-request-id', 'expect',
  // Who the client is, as a load balancer saw it: the gateway is the upstream's client.
  'forwarded', 'x-real-ip'
])

/** Upstream response headers the client never sees. */
const DROP_RESPONSE = new Set([
  ...HOP_BY_HOP,
  'content-length', 'set-cookie', 'date', 'server', 'alt-svc', 'strict-transport-security', 'cf-ray', 'cf-cache-status',
  'x-request-id'
])

const hasPrefix = (name: string, prefix: string): boolean => name.length > prefix.length && name.startsWith(prefix)

/** Names listed in a Connection header are hop-by-hop too. */
function connectionListed (value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined
  const names = (Array.isArray(value) ? value.join(',') : value).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  return names.length > 0 ? new Set(names) : undefined
}

/**
 * The headers for the upstream request: the client's, less the dropped ones, plus the
 * upstream credential, the request id and `accept-encoding: identity` (so metering and
 * the cache read plain bytes).
 */
export function upstreamRequestHeaders (client: IncomingHttpHeaders, authorization: string | undefined, requestId: string): Record<string, string | string[]> {
  const connection = client.connection
  const listed = connection === undefined || connection === 'keep-alive' || connection === 'close' ? undefined : connectionListed(connection)
  const out: Record<string, string | string[]> = {}
  for (const name in client) {
    const v = client[name]
    if (v === undefined || DROP_REQUEST.has(name) || listed?.has(name)) continue
    if (hasPrefix(name, 'x-forwarded-') || hasPrefix(name, 'x-gateway-')) continue
    out[name] = v
  }
  out['accept-encoding'] = 'identity'
  out['x-request-id'] = requestId
  if (authorization !== undefined) out.authorization = authorization
  return out
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
    if (hasPrefix(name, 'x-ratelimit-') || hasPrefix(name, 'x-gateway-')) continue
    out[name] = v
  }
  return out
}

/**
 * A client's `x-request-id` when it is sane (short, printable, no spaces), else
 * undefined (the gateway then makes its own). Whichever it is comes back on every answer.
 */
export function clientRequestId (value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 200 && /^[\w.:@/+=-]+$/.test(value) ? value : undefined
}

/**
 * True for an upstream redirect: a 3xx with a `location`. The gateway never follows
 * one (the prompt would go to a host nobody chose) and never shows it (an SDK would).
 */
export function isUpstreamRedirect (status: number, headers: Record<string, string | string[] | undefined>): boolean {
  return status >= 300 && status < 400 && headers.location !== undefined
}

/**
 * Replaces every occurrence of the secrets in `buf` by `sk-***`, copying only when one
 * is found. For buffered answers (error bodies that echo a credential); streams are not
 * rewritten.
 */
export function scrubBody (buf: Buffer, secrets: readonly Buffer[]): Buffer {
  let out = buf
  for (const secret of secrets) {
    if (secret.length === 0) continue
    let at = out.indexOf(secret)
    if (at === -1) continue
    const parts: Buffer[] = []
    let from = 0
    while (at !== -1) {
      parts.push(out.subarray(from, at), MASK)
      from = at + secret.length
      at = out.indexOf(secret, from)
    }
    parts.push(out.subarray(from))
    out = Buffer.concat(parts)
  }
  return out
}

const MASK = Buffer.from('sk-***')

/** `headers` with every occurrence of the secrets in values replaced by `sk-***` (same object when none). */
export function scrubHeaders (headers: Record<string, string | string[]>, secrets: readonly string[]): Record<string, string | string[]> {
  let out = headers
  for (const name in headers) {
    const v = headers[name]!
    const scrubbed = Array.isArray(v) ? v.map((s) => scrubText(s, secrets)) : scrubText(v, secrets)
    if (scrubbed !== v && (typeof v === 'string' || (scrubbed as string[]).some((s, i) => s !== v[i]))) {
      if (out === headers) out = { ...headers }
      out[name] = scrubbed
    }
  }
  return out
}

function scrubText (s: string, secrets: readonly string[]): string {
  let out = s
  for (const secret of secrets) if (secret.length > 0 && out.includes(secret)) out = out.split(secret).join('sk-***')
  return out
}
