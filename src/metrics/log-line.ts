import pino, { type Logger } from 'pino'

/** The fields of the one log line per `/v1` request. */
export interface RequestLine {
  readonly reqId: string
  readonly keyName: string
  readonly method: string
  readonly route: string
  readonly model: string | undefined
  readonly status: number
  readonly outcome: string
  readonly stream: boolean
  readonly ms: number
  readonly ttfbMs: number | undefined
  readonly bytes: number
  readonly upstreamRequestId: string | string[] | undefined
  readonly cache: string | string[] | undefined
  readonly tokens: { readonly input: number, readonly cached: number, readonly output: number, readonly reasoning: number } | undefined
  readonly costUsd: number | undefined
  readonly estimated: true | undefined
  readonly error: string | undefined
}

const LEVELS = { info: 30, warn: 40 } as const

/**
 * The request line as pino would print it (`level`, `time`, the fields, `msg`), built
 * by hand: the fields are known, so no generic serialiser and no redaction walk is
 * needed (bench/micro/recorder.ts, "Request log line"). Strings from outside (model,
 * ids, error text) go through JSON.stringify.
 */
export function requestLineJson (level: keyof typeof LEVELS, l: RequestLine, time: string): string {
  let s = `{"level":${LEVELS[level]},"time":"${time}","reqId":${JSON.stringify(l.reqId)},"keyName":${JSON.stringify(l.keyName)},"method":"${l.method}","route":"${l.route}"`
  if (l.model !== undefined) s += `,"model":${JSON.stringify(l.model)}`
  s += `,"status":${l.status},"outcome":"${l.outcome}","stream":${l.stream},"ms":${l.ms}`
  if (l.ttfbMs !== undefined) s += `,"ttfbMs":${l.ttfbMs}`
  s += `,"bytes":${l.bytes}`
  if (l.upstreamRequestId !== undefined) s += `,"upstreamRequestId":${JSON.stringify(l.upstreamRequestId)}`
  if (l.cache !== undefined) s += `,"cache":${JSON.stringify(l.cache)}`
  const t = l.tokens
  if (t !== undefined) s += `,"tokens":{"input":${t.input},"cached":${t.cached},"output":${t.output},"reasoning":${t.reasoning}}`
  if (l.costUsd !== undefined) s += `,"costUsd":${l.costUsd}`
  if (l.estimated !== undefined) s += ',"estimated":true'
  if (l.error !== undefined) s += `,"error":${JSON.stringify(l.error)}`
  return s + ',"msg":"request"}\n'
}

/**
 * Writes request lines to the logger's own destination, at its level. A logger whose
 * destination cannot be reached this way gets the lines through pino (same output).
 */
export function requestLineWriter (log: Logger): (level: keyof typeof LEVELS, line: RequestLine) => void {
  const stream = (log as unknown as Record<symbol, { write?: (s: string) => unknown } | undefined>)[pino.symbols.streamSym]
  if (typeof stream?.write !== 'function') {
    const plain = log.child({}, { redact: [] })
    return (level, line) => { plain[level](line, 'request') }
  }
  // Several lines a millisecond under load: the ISO time is formatted once per millisecond.
  let lastMs = -1
  let lastIso = ''
  return (level, line) => {
    if (!log.isLevelEnabled(level)) return
    const now = Date.now()
    if (now !== lastMs) {
      lastMs = now
      lastIso = new Date(now).toISOString()
    }
    stream.write!(requestLineJson(level, line, lastIso))
  }
}
