import type { TokenUsage } from '../metering/usage.js'

/**
 * Usage of a Realtime `response.done` event. Only frames that contain the event name
 * are parsed: every other frame (audio deltas, transcripts) passes with one byte search.
 */
const DONE = Buffer.from('"response.done"')

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj | undefined => v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Obj : undefined
const count = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0

/**
 * The tokens of one upstream frame when it is a `response.done` with usage, else undefined.
 * Realtime usage: `input_tokens` (cached included, `input_token_details.cached_tokens`),
 * `output_tokens`; there are no reasoning tokens.
 * @example realtimeUsage(Buffer.from('{"type":"response.done","response":{"usage":{"input_tokens":3,"output_tokens":2}}}'))
 */
export function realtimeUsage (frame: Buffer): TokenUsage | undefined {
  if (frame.indexOf(DONE) === -1) return undefined
  let event: unknown
  try {
    event = JSON.parse(frame.toString('utf8'))
  } catch {
    return undefined
  }
  const e = obj(event)
  if (e?.type !== 'response.done') return undefined
  const usage = obj(obj(e.response)?.usage)
  if (usage === undefined) return undefined
  const input = count(usage.input_tokens)
  const output = count(usage.output_tokens)
  const cached = Math.min(count(obj(usage.input_token_details)?.cached_tokens), input)
  return { input, cached, output, reasoning: 0 }
}

/** The key a browser client sends as a subprotocol (`openai-insecure-api-key.<key>`), if any. */
export function subprotocolKey (header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined
  const list = (Array.isArray(header) ? header.join(',') : header).split(',')
  for (const p of list) {
    const t = p.trim()
    if (t.startsWith('openai-insecure-api-key.')) return t.slice('openai-insecure-api-key.'.length) || undefined
  }
  return undefined
}

/** Subprotocols that go upstream: everything but the one carrying the client's key. */
export function upstreamSubprotocols (header: string | string[] | undefined): string[] {
  if (header === undefined) return []
  return (Array.isArray(header) ? header.join(',') : header).split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0 && !p.startsWith('openai-insecure-api-key.'))
}

/** The upstream's realtime URL: the HTTP base URL turned into ws(s), with the client's query. */
export function upstreamRealtimeUrl (baseUrl: string, query: string): string {
  const url = new URL(baseUrl.replace(/\/+$/, '') + '/realtime')
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  return url.toString() + query
}
