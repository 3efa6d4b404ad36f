/**
 * W3C Trace Context `traceparent`: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
 * Parsed by hand (a fixed-width format) so that the tracing interceptor needs nothing
 * from the SDK's propagators.
 */
export interface TraceParent {
  readonly traceId: string
  readonly spanId: string
  readonly traceFlags: number
}

const HEX = /^[0-9a-f]+$/

/** The parent of an incoming request, or undefined for a missing or malformed header. */
export function parseTraceParent (header: string | string[] | undefined): TraceParent | undefined {
  if (typeof header !== 'string') return undefined
  const v = header.trim()
  if (v.length < 55) return undefined
  const [version, traceId, spanId, flags] = v.split('-')
  if (version === undefined || traceId === undefined || spanId === undefined || flags === undefined) return undefined
  if (version.length !== 2 || !HEX.test(version) || version === 'ff') return undefined
  // Version 00 has exactly four fields; later versions may append more.
  if (version === '00' && v.length !== 55) return undefined
  if (traceId.length !== 32 || !HEX.test(traceId) || /^0+$/.test(traceId)) return undefined
  if (spanId.length !== 16 || !HEX.test(spanId) || /^0+$/.test(spanId)) return undefined
  if (flags.length !== 2 || !HEX.test(flags)) return undefined
  return { traceId, spanId, traceFlags: parseInt(flags, 16) & 0xff }
}

/** The header for a span: what the upstream sees as its parent. */
export function formatTraceParent (traceId: string, spanId: string, traceFlags: number): string {
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`
}
