import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/log.js'
import { requestLineJson, requestLineWriter, type RequestLine } from '../../src/metrics/log-line.js'

const full: RequestLine = {
  reqId: 'req_1',
  keyName: 'team "a"',
  method: 'POST',
  route: '/v1/chat/completions',
  model: 'gpt\n5',
  status: 200,
  outcome: 'ok',
  stream: true,
  ms: 1.4,
  ttfbMs: 0.9,
  bytes: 712,
  upstreamRequestId: 'up_1',
  cache: 'MISS',
  tokens: { input: 1, cached: 0, output: 2, reasoning: 0 },
  costUsd: 0.000123,
  estimated: true,
  error: 'bad \u2028 thing'
}
const bare: RequestLine = { ...full, model: undefined, ttfbMs: undefined, upstreamRequestId: undefined, cache: undefined, tokens: undefined, costUsd: undefined, estimated: undefined, error: undefined }

function viaPino (level: 'info' | 'warn', line: RequestLine): string {
  let out = ''
  const log = createLogger('info', new Writable({ write (c, _e, cb) { out += String(c); cb() } }))
  log.child({}, { redact: [] })[level](line, 'request')
  return out
}

describe('request log line', () => {
  it('is byte for byte the line pino prints for the same fields (but the time)', () => {
    for (const line of [full, bare]) {
      for (const level of ['info', 'warn'] as const) {
        const expected = viaPino(level, line)
        const time = (JSON.parse(expected) as { time: string }).time
        expect(requestLineJson(level, line, time)).toBe(expected)
      }
    }
  })

  it('goes to the logger\'s destination and follows its level', () => {
    const lines: string[] = []
    const log = createLogger('warn', new Writable({ write (c, _e, cb) { lines.push(String(c)); cb() } }))
    const write = requestLineWriter(log)
    write('info', full)
    write('warn', full)
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, reqId: 'req_1', msg: 'request' })
  })
})
