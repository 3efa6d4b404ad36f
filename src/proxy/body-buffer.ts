/**
 * The body of an answer being buffered, grown in one allocation rather than kept as the
 * socket's chunks. Why: a large body held as a thousand 64 KiB chunks lands all over the
 * allocator's heap and, once freed, stays in the process's RSS (fragmentation); one
 * large buffer is mapped on its own and given back whole. It costs no more copying than
 * joining the chunks at the end did (doubling: each byte is copied about twice at most).
 * A body of one chunk, the usual JSON answer, is kept as it came (no copy).
 *
 * @example const b = new BodyBuffer(contentLength); b.push(chunk); const body = b.body()
 */
export class BodyBuffer {
  /** Bytes so far. */
  length = 0
  private first: Buffer | undefined
  private buf: Buffer | undefined

  /** `expected`: the content-length when known (a hint only: it may lie), else 0. */
  constructor (private readonly expected = 0) {}

  push (chunk: Buffer): void {
    if (this.length === 0 && this.buf === undefined) {
      this.first = chunk
      this.length = chunk.length
      return
    }
    const need = this.length + chunk.length
    if (this.buf === undefined || this.buf.length < need) this.grow(need)
    chunk.copy(this.buf!, this.length)
    this.length = need
  }

  /** What arrived, as one Buffer; a grown buffer with much slack is copied to size first. */
  body (): Buffer {
    const buf = this.buf
    if (buf === undefined) return this.first ?? EMPTY
    const b = buf.subarray(0, this.length)
    return buf.length - this.length > this.length >> 2 ? Buffer.from(b) : b
  }

  private grow (need: number): void {
    // The content-length is trusted up to 1 MiB ahead of what came: a liar must send its bytes.
    const size = Math.max(need, (this.buf?.length ?? 0) * 2, Math.min(this.expected, need + MiB), MIN_BYTES)
    const next = Buffer.allocUnsafeSlow(size)
    if (this.buf !== undefined) this.buf.copy(next, 0, 0, this.length)
    else this.first!.copy(next, 0)
    this.first = undefined
    this.buf = next
  }
}

const MiB = 1024 * 1024
const MIN_BYTES = 64 * 1024
const EMPTY = Buffer.alloc(0)
