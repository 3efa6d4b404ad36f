/**
 * Finds SSE event boundaries in a byte stream without decoding it, and optionally holds
 * back the chat usage-only chunk that the gateway asked for and the client did not.
 *
 * Events end at a blank line; a line ends at CR, LF or CRLF (WHATWG SSE), and any of
 * those may be split across chunks, as may multi-byte UTF-8 (which we never decode here).
 *
 *   chunk 1: data: {"a":1}\n\ndata: {"b"   chunk 2: :2}\n\n
 *            └── event 1 ───┘└─ part ──┘            └ tail ┘  → event 2 = [part, tail]
 *
 * Pass-through mode writes each chunk as it came (the same Buffer: zero copies) and only
 * remembers where the last data event is (as slices of the chunks, joined on demand).
 * Strip mode holds an event only until its prefix shows a non-empty `"choices":[…` (then
 * it flows on as it arrives); an event with empty or no choices is held to its end and
 * dropped if it carries a non-null `usage`, else let through unchanged.
 */

const LF = 0x0a
const CR = 0x0d
const SPACE = 0x20
const TAB = 0x09
const COLON = 0x3a
const BRACKET_OPEN = 0x5b
const BRACKET_CLOSE = 0x5d
const DATA = Buffer.from('data:')
const CHOICES = Buffer.from('"choices"')

export type Write = (chunk: Buffer) => void

export class SseScanner {
  /** The chat usage-only chunk removed from the client's stream (strip mode). */
  strippedEvent: Buffer | undefined
  /** `data: [DONE]` was seen. */
  sawDone = false
  /** Complete events seen. */
  events = 0

  private lastParts: Buffer[] | undefined
  // Line state, carried across chunks.
  private carry = 0 // bytes of the unfinished line before this chunk
  private prevCR = false // the last terminator was a CR (its LF may come next)
  private eventOpen = false // the current event has a non-blank line
  private parts: Buffer[] = [] // the current event's bytes so far, as slices
  // Strip mode only.
  private written = 0 // parts already written to the client
  private flowing = false // the current event is known to be a normal chunk

  constructor (private readonly strip: boolean) {}

  /** Scans `chunk` and writes what the client may have now. */
  push (chunk: Buffer, write: Write): void {
    if (this.strip) {
      this.scan(chunk, write)
    } else {
      write(chunk)
      this.scan(chunk, undefined)
    }
  }

  /** End of stream: an event without its closing blank line still counts (SDK 7 reads it). */
  end (write: Write): void {
    if (this.parts.length === 0) return
    this.finish(undefined, this.strip ? write : undefined)
  }

  /** The last complete data event that is not `[DONE]`, as one Buffer. */
  get lastEvent (): Buffer | undefined {
    const p = this.lastParts
    if (p === undefined || p.length === 1) return p?.[0]
    const joined = Buffer.concat(p)
    this.lastParts = [joined]
    return joined
  }

  private scan (chunk: Buffer, write: Write | undefined): void {
    const len = chunk.length
    let segStart = 0 // start of the current line in this chunk
    let eventStart = 0 // start of the current event's bytes in this chunk
    let nextLF = chunk.indexOf(LF)
    let nextCR = chunk.indexOf(CR)
    while (nextLF !== -1 || nextCR !== -1) {
      let p: number
      if (nextCR === -1 || (nextLF !== -1 && nextLF < nextCR)) {
        p = nextLF
        nextLF = chunk.indexOf(LF, p + 1)
        if (this.prevCR && p === segStart && this.carry === 0) {
          // The LF of a CRLF: that line ended at the CR.
          this.prevCR = false
          segStart = p + 1
          continue
        }
        this.prevCR = false
      } else {
        p = nextCR
        nextCR = chunk.indexOf(CR, p + 1)
        this.prevCR = true
      }
      const lineLen = this.carry + p - segStart
      this.carry = 0
      segStart = p + 1
      if (lineLen !== 0) {
        this.eventOpen = true
      } else if (!this.eventOpen) {
        // A separator outside any event: it passes, and belongs to no event.
        if (write !== undefined) write(chunk.subarray(eventStart, p + 1))
        eventStart = p + 1
      } else {
        this.finish(chunk.subarray(eventStart, p + 1), write)
        eventStart = p + 1
      }
    }
    this.carry += len - segStart
    if (this.carry > 0) this.prevCR = false
    if (eventStart === len) return
    const rest = chunk.subarray(eventStart)
    if (!this.eventOpen && this.carry === 0) {
      // Only separator bytes are left (e.g. the CR of a CRLF blank line).
      if (write !== undefined) write(rest)
      return
    }
    this.parts.push(rest)
    if (write === undefined) return
    if (!this.flowing && isNormalChunkPrefix(this.parts)) this.flowing = true
    if (this.flowing) this.flush(write)
  }

  /** The current event ends with `tail` (undefined at end of stream). */
  private finish (tail: Buffer | undefined, write: Write | undefined): void {
    const parts = this.parts
    if (tail !== undefined) parts.push(tail)
    this.parts = []
    this.eventOpen = false
    this.events++
    if (write !== undefined) this.settle(parts, write)
    this.flowing = false
    this.written = 0
    const kind = eventKind(parts)
    if (kind === 'done') this.sawDone = true
    else if (kind === 'data') this.lastParts = parts
  }

  /** Strip mode: the event is complete; send it, or keep it back if it is the usage-only chunk. */
  private settle (parts: Buffer[], write: Write): void {
    if (!this.flowing && !isNormalChunkPrefix(parts) && eventKind(parts) === 'data') {
      const event = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
      if (isUsageOnlyChunk(event)) {
        this.strippedEvent = event
        return
      }
    }
    this.parts = parts
    this.flush(write)
    this.parts = []
  }

  private flush (write: Write): void {
    for (let i = this.written; i < this.parts.length; i++) write(this.parts[i]!)
    this.written = this.parts.length
  }
}

/** The first `n` bytes of an event held as parts (copies only when the first part is shorter). */
function head (parts: readonly Buffer[], n: number): Buffer {
  const first = parts[0]!
  return first.length >= n || parts.length === 1 ? first : Buffer.concat(parts as Buffer[]).subarray(0, n)
}

/** Offset of the value of the event's first field when that field is `data`, else -1. */
function dataValueOffset (buf: Buffer): number {
  if (buf.length < DATA.length || buf.compare(DATA, 0, DATA.length, 0, DATA.length) !== 0) return -1
  return buf[DATA.length] === SPACE ? DATA.length + 1 : DATA.length
}

/** `data` (a data event), `done` (`data: [DONE]`) or `other` (comments, `event:`-first is data below). */
function eventKind (parts: readonly Buffer[]): 'data' | 'done' | 'other' {
  const h = head(parts, 64)
  if (h[0] === COLON) return 'other'
  let at = dataValueOffset(h)
  if (at === -1) {
    // `event: x\ndata: …` (Responses API): data follows the event line.
    const nl = h.indexOf('\ndata:')
    if (nl === -1) return h.indexOf('data:') === -1 && parts.length === 1 ? 'other' : 'data'
    at = nl + 1 + DATA.length
    if (h[at] === SPACE) at++
  }
  return h[at] === BRACKET_OPEN && h.toString('latin1', at, at + 6) === '[DONE]' ? 'done' : 'data'
}

/**
 * True once the bytes seen of an event prove it is not the usage-only chunk: it is no
 * `data:` event, or its `"choices"` array has a first element. False while unsure.
 */
function isNormalChunkPrefix (parts: readonly Buffer[]): boolean {
  const buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts as Buffer[])
  if (buf.length < DATA.length) return false
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

/** The joined `data:` lines of one event, decoded as UTF-8 (used on single events only). */
export function sseData (event: Buffer): string | undefined {
  let data: string | undefined
  for (const raw of event.toString('utf8').split(/\r\n|\r|\n/)) {
    if (!raw.startsWith('data:')) continue
    const v = raw.charCodeAt(5) === SPACE ? raw.slice(6) : raw.slice(5)
    data = data === undefined ? v : data + '\n' + v
  }
  return data
}

/** The `event:` name of one event, if any. */
export function sseEventName (event: Buffer): string | undefined {
  const m = /^event: ?(.*)$/m.exec(event.toString('utf8', 0, Math.min(event.length, 256)))
  return m?.[1]?.replace(/\r$/, '')
}
