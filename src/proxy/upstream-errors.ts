import { gatewayError, type GatewayError } from '../errors.js'

/**
 * undici and socket error codes → the gateway's answer. A table, so every row has a test
 * and a new code is one line. Anything not listed is "unavailable" (502).
 */
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT'])
const UNAVAILABLE: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'client closed',
  UND_ERR_DESTROYED: 'client destroyed',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'broken pipe',
  ETIMEDOUT: 'connect timeout',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted'
}

/** The client-facing error for a failed upstream call (before any response header arrived). */
export function upstreamError (err: unknown, headersTimeoutMs: number): GatewayError {
  const code = errorCode(err)
  if (code !== undefined && TIMEOUTS.has(code)) return gatewayError('GW_ERR_UPSTREAM_TIMEOUT', [headersTimeoutMs], { cause: err })
  return gatewayError('GW_ERR_UPSTREAM_UNAVAILABLE', [(code !== undefined && UNAVAILABLE[code]) || 'network error'], { cause: err })
}

/** The error's code, looking through `cause` chains (undici wraps socket errors). */
export function errorCode (err: unknown): string | undefined {
  let e = err as { code?: unknown, cause?: unknown } | undefined
  for (let depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    if (typeof e.code === 'string') return e.code
    e = e.cause as typeof e
  }
  return undefined
}
