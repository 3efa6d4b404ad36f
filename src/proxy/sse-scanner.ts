/**
 * Finds SSE event boundaries in a byte stream without decoding it. What to hold back is
 * not its business: an optional `SseHold` policy (metering's usage-chunk strip) decides.
 *
 * Events end at a blank line; a line ends at CR, LF or CRLF (WHATWG SSE), and any of
 * those may be split across chunks, as may multi-byte UTF-8 (which we never decode here).
 *
 *   chunk 1: data: {"a":1}\n\ndata: {"b"   chunk 2: :2}\n\n
 *            └── event 1 ───┘└─ part ──┘            └ tail ┘  → event 2 = [part, tail]
 *
 * Without a hold policy each chunk is written as it came (the same Buffer: zero copies)
 * and the scanner only remembers where the last data event is (as slices of the chunks,
 * joined on demand). With one, an event is held only until the policy lets its prefix
 * flow (then it goes on as it arrives); a held event that completes is dropped if the
 * policy says so, else let through unchanged.
 *
 * Bounds: an event is held back for at most `HOLD_LIMIT_BYTES` (then it flows as it
 * came), and one that grows past `maxEventBytes` ends the scan (`overflowed`): nothing
 * more of that event or of the stream is written, and what the scanner kept of it is
 * let go. So the scanner's memory is bounded by `maxEventBytes` per stream, and no
 * string is ever made of more than that.
 */

const LF = 0x0a
const CR = 0x0d
const SPACE = 0x20
const COLON = 0x3a
const BRACKET_OPEN = 0x5b
const DATA = Buffer.from('data:')
const USAGE = Buffer.from('"usage"')
const OPEN_BRACE = 0x7b

/** The longest prefix of an event a hold policy may keep back before it must flow. */
export const HOLD_LIMIT_BYTES = 64 * 1024
/** The default bound on one event (the gateway passes MAX_EVENT_BYTES). */
export const DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024

export type Write = (chunk: Buffer) => void

/** What a stream may hold back: decided by the feature that owns the policy, not the framer. */
export interface SseHold {
  /** The bytes seen of an unfinished event prove it must not be held: let it flow now. */
  flows (parts: readonly Buffer[]): boolean
  /** A held data event is complete: true removes it from the client's stream. */
  drops (event: Buffer): boolean
}

export class SseScanner {
  /** The last event the hold policy removed from the client's stream. */
  strippedEvent: Buffer | undefined
  /** `data: [DONE]` was seen. */
  sawDone = false
  /** Complete events seen. */
  events = 0
  /**
   * With `watchUsage`: the last data event holding a `"usage"` object, wherever it stood
   * in the stream (some upstreams send usage before the last chunk).
   */
  usageEvent: Buffer | undefined
  /** An event grew past `maxEventBytes`: the scan stopped there and writes nothing more. */
  overflowed = false

  private lastParts: Buffer[] | undefined
  // Line state, carried across chunks.
  private carry = 0 // bytes of the unfinished line before this chunk
  private prevCR = false // the last terminator was a CR (its LF may come next)
  private eventOpen = false // the current event has a non-blank line
  private parts: Buffer[] = [] // the current event's bytes so far, as slices
  private partBytes = 0 // their total length
  // Strip mode only.
  private written = 0 // parts already written to the client
  private flowing = false // the current event is known to be a normal chunk
  // The policy looks again once the held bytes doubled: a prefix split into slivers costs O(n), not O(n²).
  private nextCheck = 0
  private cutAt = 0 // on overflow: the bytes of the chunk before the event that overflowed

  private readonly hold: SseHold | undefined
  private readonly watchUsage: boolean
  private readonly maxEventBytes: number

  constructor (hold?: SseHold, watchUsage = false, maxEventBytes = DEFAULT_MAX_EVENT_BYTES) {
    this.hold = hold
    this.watchUsage = watchUsage
    this.maxEventBytes = maxEventBytes
  }

  /** Scans `chunk` and writes what the client may have now (nothing once `overflowed`). */
  push (chunk: Buffer, write: Write): void {
    if (this.overflowed) return
    if (this.hold !== undefined) {
      this.scan(chunk, write)
      return
    }
    this.scan(chunk, undefined)
    if (!this.overflowed) write(chunk)
    else if (this.cutAt > 0) write(chunk.subarray(0, this.cutAt))
  }

  /** End of stream: an event without its closing blank line still counts (SDK 7 reads it). */
  end (write: Write): void {
    if (this.parts.length === 0 || this.overflowed) return
    this.finish(undefined, this.hold !== undefined ? write : undefined)
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
        if (this.partBytes + p + 1 - eventStart > this.maxEventBytes) return this.overflow(eventStart)
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
    if (this.partBytes + rest.length > this.maxEventBytes) return this.overflow(eventStart)
    this.parts.push(rest)
    this.partBytes += rest.length
    if (write === undefined) return
    if (!this.flowing && this.releases()) this.flowing = true
    if (this.flowing) this.flush(write)
  }

  /** Whether the held part of the current event must flow now (policy, or the hold's bound). */
  private releases (): boolean {
    const n = this.partBytes
    if (n > HOLD_LIMIT_BYTES) return true
    if (n < this.nextCheck) return false
    this.nextCheck = n * 2
    return this.hold!.flows(this.parts)
  }

  /** The current event is too large: stop, keep nothing of it, write no more. */
  private overflow (eventStart: number): void {
    this.overflowed = true
    this.cutAt = eventStart
    this.parts = []
    this.partBytes = 0
  }

  /** The current event ends with `tail` (undefined at end of stream). */
  private finish (tail: Buffer | undefined, write: Write | undefined): void {
    const parts = this.parts
    if (tail !== undefined) parts.push(tail)
    const bytes = this.partBytes + (tail?.length ?? 0)
    this.parts = []
    this.partBytes = 0
    this.eventOpen = false
    this.events++
    if (write !== undefined) this.settle(parts, bytes, write)
    this.flowing = false
    this.written = 0
    this.nextCheck = 0
    const kind = eventKind(parts)
    if (kind === 'done') this.sawDone = true
    else if (kind === 'data') {
      this.lastParts = parts
      if (this.watchUsage) this.watch(parts, bytes)
    }
  }

  /**
   * A native search per finished event. A small one split across chunks is joined once
   * (cheaper than searching its seams); a large one is searched part by part and joined
   * only when it holds usage (copying costs milliseconds per MiB).
   */
  private watch (parts: Buffer[], bytes: number): void {
    if (parts.length === 1 || bytes <= HOLD_LIMIT_BYTES) {
      const event = parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes)
      if (parts.length > 1) this.lastParts = [event]
      if (partsHaveUsageObject([event])) this.usageEvent = event
    } else if (partsHaveUsageObject(parts)) {
      const event = Buffer.concat(parts, bytes)
      this.usageEvent = event
      this.lastParts = [event]
    }
  }

  /** With a hold policy: the event is complete; send it, or drop it if the policy says so. */
  private settle (parts: Buffer[], bytes: number, write: Write): void {
    if (!this.flowing && bytes <= HOLD_LIMIT_BYTES && !this.hold!.flows(parts) && eventKind(parts) === 'data') {
      const event = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
      if (this.hold!.drops(event)) {
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

/**
 * True when `"usage"` is followed by an object (not `null`) somewhere in the event, held
 * as parts: each part is searched natively, and a name split between parts is found in
 * a window of a few bytes either side of each seam.
 */
function partsHaveUsageObject (parts: readonly Buffer[]): boolean {
  const seam = USAGE.length - 1
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!
    for (let at = p.indexOf(USAGE); at !== -1; at = p.indexOf(USAGE, at + USAGE.length)) {
      if (objectFollows(parts, i, at + USAGE.length)) return true
    }
    if (i + 1 === parts.length) continue
    const tail = p.subarray(Math.max(0, p.length - seam))
    const window = Buffer.concat([tail, seamBytes(parts, i + 1, seam)])
    const w = window.indexOf(USAGE)
    if (w !== -1 && w < tail.length && objectFollowsAt(parts, i + 1, w + USAGE.length - tail.length)) return true
  }
  return false
}

/** Up to `n` bytes from the start of part `i` on, across parts. */
function seamBytes (parts: readonly Buffer[], i: number, n: number): Buffer {
  const first = parts[i]!
  if (first.length >= n) return first.subarray(0, n)
  const out: Buffer[] = []
  for (let k = i; k < parts.length && n > 0; k++) {
    out.push(parts[k]!.subarray(0, n))
    n -= Math.min(n, parts[k]!.length)
  }
  return Buffer.concat(out)
}

/** `offset` bytes into the parts from part `i` on: where that byte is, as [part, index]. */
function objectFollowsAt (parts: readonly Buffer[], i: number, offset: number): boolean {
  while (i < parts.length && offset >= parts[i]!.length) offset -= parts[i++]!.length
  return objectFollows(parts, i, offset)
}

/** Whether, from byte `j` of part `i` on, spaces and colons lead to `{` (across parts). */
function objectFollows (parts: readonly Buffer[], i: number, j: number): boolean {
  for (; i < parts.length; i++, j = 0) {
    const p = parts[i]!
    while (j < p.length && (p[j] === SPACE || p[j] === COLON)) j++
    if (j < p.length) return p[j] === OPEN_BRACE
  }
  return false
}

/** The first `n` bytes of an event held as parts (copies only when the first part is shorter, and only `n`). */
function head (parts: readonly Buffer[], n: number): Buffer {
  const first = parts[0]!
  return first.length >= n || parts.length === 1 ? first : seamBytes(parts, 0, n)
}

/** Offset of the value of the event's first field when that field is `data`, else -1. */
export function dataValueOffset (buf: Buffer): number {
  // Five byte compares: Buffer#compare costs a native call, twice per event.
  if (buf.length < 5 || buf[0] !== 0x64 || buf[1] !== 0x61 || buf[2] !== 0x74 || buf[3] !== 0x61 || buf[4] !== 0x3a) return -1
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
