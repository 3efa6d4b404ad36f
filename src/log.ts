import pino, { type Logger, type DestinationStream } from 'pino'

/**
 * Paths pino censors wherever they appear. The request log line is built by us and never
 * holds these, but a stray `log.info({ req })` or an error with headers must not leak a
 * gateway key, the admin key or the upstream key either.
 */
const REDACT = [
  'authorization', '*.authorization', '*.*.authorization', 'headers.authorization', 'req.headers.authorization',
  'key', '*.key', 'apiKey', '*.apiKey', 'api_key', '*.api_key', 'secret', '*.secret',
  'UPSTREAM_API_KEY', 'ADMIN_KEY', 'METRICS_TOKEN', '*.UPSTREAM_API_KEY', '*.ADMIN_KEY', '*.METRICS_TOKEN',
  'x-api-key', '*["x-api-key"]', 'cookie', '*.cookie'
]

/**
 * The process logger. `destination` lets tests capture every line.
 * @example const log = createLogger('info')
 */
export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: undefined,
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime
  }, destination ?? pino.destination({
    sync: false,
    // Lines are written in batches of 4 KB (or every 200 ms when traffic is light): one
    // asynchronous write per request line costs about 8 µs of the main thread (bench/README.md).
    // pino flushes what is left on exit.
    minLength: 4096,
    periodicFlush: 200
  }))
}

/**
 * Censors anything shaped like a gateway key (`sk-…`) or a bearer token inside free text,
 * such as an upstream error message; used before text goes into a log line or an error.
 */
export function scrubSecrets (text: string): string {
  return text
    .replace(/\bsk-[A-Za-z0-9_-]{8,}/g, 'sk-[redacted]')
    .replace(/(bearer\s+)[^\s"',]+/gi, '$1[redacted]')
}

export type { Logger }
