import pino from 'pino'
import { Readable } from 'node:stream'
import { createMetrics } from '../../src/metrics/metrics.js'
import { createLogger } from '../../src/log.js'
import { requestLineWriter, type RequestLine } from '../../src/metrics/log-line.js'
import { group } from './harness.js'

/**
 * The per-request bookkeeping at the end of an exchange: the pino line (with the
 * process-wide redaction paths, and without), prom-client histogram observations (label
 * lookup each time vs a cached child), and reading a small upstream body (async
 * iteration vs 'data' events).
 */

const line: RequestLine = {
  reqId: 'req_0123456789abcdef01234567',
  keyName: 'bench',
  method: 'POST',
  route: '/v1/chat/completions',
  model: 'gpt-5.2-chat-latest',
  status: 200,
  outcome: 'ok',
  stream: false,
  ms: 1.4,
  ttfbMs: 1.1,
  bytes: 712,
  upstreamRequestId: 'req_mock_1',
  cache: undefined,
  tokens: { input: 1000, cached: 600, output: 500, reasoning: 200 },
  costUsd: 0.006265,
  estimated: undefined,
  error: undefined
}

const sink = { write (_s: string): void {} }

export async function recorderBench (timeMs?: number): Promise<string> {
  const redacted = createLogger('info', sink)
  const plain = pino({ level: 'info', base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, sink)
  const writeLine = requestLineWriter(createLogger('info', sink))
  const metrics = createMetrics(undefined, { defaultMetrics: false })
  const child = metrics.duration.labels('/v1/chat/completions', 'gpt-5.2-chat-latest')
  const chunk = Buffer.alloc(712, 0x61)
  const forAwait = async (): Promise<number> => {
    const chunks: Buffer[] = []
    for await (const c of Readable.from([chunk])) chunks.push(c as Buffer)
    return chunks.length
  }
  const events = (): Promise<number> => new Promise((resolve) => {
    const chunks: Buffer[] = []
    const r = Readable.from([chunk])
    r.on('data', (c: Buffer) => chunks.push(c))
    r.once('end', () => resolve(chunks.length))
  })
  const asyncCase = async (fn: () => Promise<number>, n: number): Promise<number> => {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await fn()
    return Number(process.hrtime.bigint() - t0) / n
  }
  for (let i = 0; i < 3; i++) { await asyncCase(forAwait, 20_000); await asyncCase(events, 20_000) }
  const a = await asyncCase(forAwait, 50_000)
  const b = await asyncCase(events, 50_000)
  return [
    group('Request log line (pino, LOG_LEVEL=info)', [
      { name: 'with the process redaction paths', fn: () => redacted.info(line, 'request') },
      { name: 'no redaction (line built from known-safe fields)', fn: () => plain.info(line, 'request') },
      { name: 'hand-built JSON to the destination (src/metrics/log-line.ts)', fn: () => { writeLine('info', line); return 1 } }
    ], timeMs),
    group('Per-request child logger (what Fastify makes for request.log)', [
      { name: 'log.child({ reqId })', fn: () => redacted.child({ reqId: 'req_0123456789abcdef01234567' }) },
      { name: 'the process logger itself (src/app.ts childLoggerFactory)', fn: () => redacted }
    ], timeMs),
    group('Duration histogram observation (prom-client)', [
      { name: 'histogram.labels(route, model).observe()', fn: () => metrics.duration.labels('/v1/chat/completions', 'gpt-5.2-chat-latest').observe(0.0014) },
      { name: 'cached child.observe()', fn: () => child.observe(0.0014) }
    ], timeMs),
    [
      '#### Reading a 712-byte body from a Readable (incl. creating the stream)',
      '',
      '| case | per op | × first |', '|---|---|---|',
      `| for await (async iterator) | ${(a / 1000).toFixed(2)} µs | 1.00 |`,
      `| 'data' / 'end' events | ${(b / 1000).toFixed(2)} µs | ${(b / a).toFixed(2)} |`
    ].join('\n')
  ].join('\n\n')
}
