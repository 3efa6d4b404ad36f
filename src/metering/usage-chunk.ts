import { dataValueOffset, sseData, type SseHold } from '../proxy/sse-scanner.js'

/**
 * The chat usage-only chunk that `include_usage` adds, as a hold policy for the SSE
 * scanner: metering asks the upstream for it when the client did not, so the client
 * must not see it. An event is held only until its prefix shows a non-empty
 * `"choices":[…` (then it flows as it arrives); one with empty, null or no choices is
 * held to its end and dropped when it carries a non-null `usage`.
 */

const SPACE = 0x20
const TAB = 0x09
const CR = 0x0d
const LF = 0x0a
const COLON = 0x3a
const BRACKET_OPEN = 0x5b
const BRACKET_CLOSE = 0x5d
const CHOICES = Buffer.from('"choices"')
const DATA_LENGTH = 5

export const usageChunkHold: SseHold = {
  flows: isNormalChunkPrefix,
  drops: isUsageOnlyChunk
}

/**
 * True once the bytes seen of an event prove it is not the usage-only chunk: it is no
 * `data:` event, or its `"choices"` array has a first element. False while unsure.
 */
function isNormalChunkPrefix (parts: readonly Buffer[]): boolean {
  const buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts as Buffer[])
  if (buf.length < DATA_LENGTH) return false
  if (buf[0] === COLON) return true
  const at = dataValueOffset(buf)
  if (at === -1) return true
  if (at >= buf.length) return false
  if (buf[at] !== 0x7b) return true // not a JSON object ([DONE] and the like)
  let i = buf.indexOf(CHOICES, at)
  if (i === -1) return false
  i = skipWs(buf, i + CHOICES.length)
  if (buf[i] !== COLON) return false
  i = skipWs(buf, i + 1)
  // choices: null (some upstreams' usage chunk) → unsure until the end; any other value is a normal chunk.
  if (buf[i] !== BRACKET_OPEN) return i < buf.length && buf[i] !== 0x6e
  i = skipWs(buf, i + 1)
  return i < buf.length && buf[i] !== BRACKET_CLOSE
}

function skipWs (buf: Buffer, i: number): number {
  while (i < buf.length && (buf[i] === SPACE || buf[i] === TAB || buf[i] === CR || buf[i] === LF)) i++
  return i
}

/** A chat chunk with no choices and a non-null `usage`: the one `include_usage` adds. */
export function isUsageOnlyChunk (event: Buffer): boolean {
  const data = sseData(event)
  if (data === undefined || data[0] !== '{') return false
  try {
    const chunk = JSON.parse(data) as { choices?: unknown[] | null, usage?: unknown }
    return (chunk.choices === undefined || chunk.choices === null || chunk.choices.length === 0) &&
      chunk.usage !== null && typeof chunk.usage === 'object'
  } catch {
    return false
  }
}
