import { chatStreamEvents, DEFAULT_USAGE } from '../../src/mock/upstream.js'
import { SseScanner } from '../../src/proxy/sse-scanner.js'
import { usageChunkHold } from '../../src/metering/usage-chunk.js'
import { group } from './harness.js'

/**
 * The SSE scanner on one 20-chunk chat stream with the usage chunk (as the gateway asks
 * for it), cut four ways: one chunk per event (what upstreams send), 16-byte slivers
 * (worst case: every event split many times), 4 KB blocks (many events per chunk), and a
 * 200 KB event in 64 KB chunks. Pass-through mode (client asked for usage) and strip
 * mode (gateway removes the usage chunk), and strip mode with the usage watch metering
 * uses. Per op = one whole stream.
 */

function cut (bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

const events = chatStreamEvents('gpt-5.2-chat-latest', 20, DEFAULT_USAGE)
const perEvent = events.map((e) => Buffer.from(e))
const whole = Buffer.concat(perEvent)
const big = Buffer.from(`data: {"choices":[{"index":0,"delta":{"content":"${'x'.repeat(200_000)}"}}]}\n\n`)
const shapes: Array<[string, Buffer[]]> = [
  ['one chunk per event', perEvent],
  ['16-byte chunks', cut(whole, 16)],
  ['4 KB chunks', cut(whole, 4096)],
  ['200 KB event, 64 KB chunks', [...cut(big, 65536), ...perEvent.slice(-2)]]
]

let written = 0
const write = (c: Buffer): void => { written += c.length }

function run (chunks: readonly Buffer[], strip: boolean, watchUsage = false): number {
  const s = new SseScanner(strip ? usageChunkHold : undefined, watchUsage)
  for (const c of chunks) s.push(c, write)
  s.end(write)
  return s.events + written
}

export function sseScannerBench (timeMs?: number): string {
  return shapes.map(([name, chunks]) => group(`SSE scanner, ${name} (${chunks.length} chunks, ${chunks.reduce((n, c) => n + c.length, 0)} bytes)`, [
    { name: 'no scanner (write only)', fn: () => { for (const c of chunks) write(c); return written } },
    { name: 'pass-through', fn: () => run(chunks, false) },
    { name: 'strip usage chunk', fn: () => run(chunks, true) },
    { name: 'strip, and watch for usage (metering)', fn: () => run(chunks, true, true) }
  ], timeMs)).join('\n\n')
}
