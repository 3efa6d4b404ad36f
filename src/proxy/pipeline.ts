import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { Exchange, Stage, StageAnswer } from './exchange.js'
import { relay, sendStageAnswer, type RelayContext } from './relay.js'
import { toGatewayError, type GatewayError } from '../errors.js'

export interface PipelineContext extends RelayContext {
  readonly stages: readonly Stage[]
  readonly log: Logger
  readonly bodyLimit: number
  /** Called once per exchange after every stage's `after`: the log line and metrics. */
  readonly onEnd: (ex: Exchange, error: GatewayError | undefined) => void
}

function isPromise<T> (v: unknown): v is Promise<T> {
  return typeof (v as Promise<T> | undefined)?.then === 'function'
}

/**
 * Runs one exchange through the stages and the relay, answers errors in OpenAI's shape,
 * and always ends with the stages' `after` (reverse order) and `onEnd`.
 */
export async function runExchange (ex: Exchange, res: ServerResponse, ctx: PipelineContext): Promise<void> {
  const ran: Stage[] = []
  let error: GatewayError | undefined
  try {
    let answer: StageAnswer | undefined
    for (const stage of ctx.stages) {
      ran.push(stage)
      if (stage.before === undefined) continue
      const r = stage.before(ex)
      const a = isPromise<void | StageAnswer>(r) ? await r : r
      if (a !== undefined) {
        answer = a
        break
      }
    }
    if (answer !== undefined) await sendStageAnswer(ex, res, answer, ran, ctx)
    else await relay(ex, res, ran, ctx)
  } catch (err) {
    error = toGatewayError(err, ctx.bodyLimit)
    if (ex.outcome === 'ok') ex.outcome = 'refused'
    sendError(ex, res, error)
  }
  for (let i = ran.length - 1; i >= 0; i--) {
    const stage = ran[i]!
    if (stage.after === undefined) continue
    try {
      const r = stage.after(ex)
      if (isPromise(r)) await r
    } catch (err) {
      ctx.log.error({ err, reqId: ex.id, stage: stage.name }, 'stage after() failed')
    }
  }
  ctx.onEnd(ex, error)
}

/** Writes a gateway error unless the answer has started (then the connection just ends). */
export function sendError (ex: Exchange, res: ServerResponse, error: GatewayError): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end()
    return
  }
  if (res.destroyed) return
  ex.status = error.status
  const body = JSON.stringify(error.toJSON())
  res.writeHead(error.status, {
    ...ex.responseHeaders,
    ...error.headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': ex.id
  })
  res.end(body)
}
