import { gatewayError, type ErrorCode, type GatewayError } from '../../src/errors.js'
import { LocalController, type Dispatch, type GatewayRequest, type ResponseEnd, type ResponseHandler, type ResponseHead } from '../../src/proxy/interceptor.js'
import { UpstreamHealth } from '../../src/upstreams/health.js'
import type { RoutedUpstream } from '../../src/upstreams/router.js'

/**
 * Fake terminals for the router's tests, driving the handler protocol the way the undici
 * terminal does: asynchronously, each answer scripted per attempt.
 */
export type Script =
  | { type: 'status', status: number, headers?: Record<string, string>, body?: string, kind?: 'buffered' | 'sse' }
  | { type: 'error', code: ErrorCode }
  | { type: 'stream', chunks: string[], breaks?: boolean }
  | { type: 'hang' }

export interface FakeUpstream extends RoutedUpstream {
  /** Attempts received, in order. */
  readonly requests: GatewayRequest[]
  /** Controllers of the attempts, in order (to see aborts). */
  readonly controllers: LocalController[]
  /** The answers to give, one per attempt; the last repeats. */
  script: Script[]
  /** Ends every hanging attempt with this error (its connection broke). */
  failHanging (code: ErrorCode): void
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export function fakeUpstream (name: string, script: Script[], opts: { weight?: number, models?: string[], failuresToCooldown?: number, cooldownMs?: number, onChange?: (up: boolean) => void } = {}): FakeUpstream {
  const requests: GatewayRequest[] = []
  const controllers: LocalController[] = []
  const hanging: Array<(code: ErrorCode) => void> = []
  const self: FakeUpstream = {
    name,
    weight: opts.weight ?? 1,
    models: opts.models ?? null,
    health: new UpstreamHealth({ failuresToCooldown: opts.failuresToCooldown ?? 100, cooldownMs: opts.cooldownMs ?? 1000, onChange: opts.onChange }),
    requests,
    controllers,
    script,
    failHanging: (code) => { for (const f of hanging.splice(0)) f(code) },
    dispatch: ((request, handler) => {
      const step = self.script[Math.min(requests.length, self.script.length - 1)]!
      requests.push(request)
      play(step, handler, controllers, hanging).catch(() => {})
    }) satisfies Dispatch
  }
  return self
}

/** Plays one answer the way the undici terminal does: an aborted attempt ends with GW_ERR_CLIENT_CLOSED before its head, `client_abort` after. */
async function play (step: Script, handler: ResponseHandler, controllers: LocalController[], hanging: Array<(code: ErrorCode) => void>): Promise<void> {
  let onAbort: (reason: Error) => void = () => {}
  const controller = new LocalController({ abort: (reason) => onAbort(reason) })
  controllers.push(controller)
  handler.onRequestStart(controller)
  if (controller.aborted) {
    handler.onResponseError(controller, gatewayError('GW_ERR_CLIENT_CLOSED'))
    return
  }
  if (step.type === 'hang') {
    let over = false
    onAbort = () => { if (!over) { over = true; handler.onResponseError(controller, gatewayError('GW_ERR_CLIENT_CLOSED')) } }
    hanging.push((code) => { if (!over) { over = true; handler.onResponseError(controller, gatewayError(code, ['broke'])) } })
    return
  }
  await tick()
  if (controller.aborted) return handler.onResponseError(controller, gatewayError('GW_ERR_CLIENT_CLOSED'))
  if (step.type === 'error') return handler.onResponseError(controller, gatewayError(step.code, ['fake']))
  if (step.type === 'status') {
    const kind = step.kind ?? 'buffered'
    const body = Buffer.from(step.body ?? JSON.stringify({ status: step.status }))
    handler.onResponseStart(controller, { status: step.status, headers: { 'content-type': 'application/json', ...step.headers }, kind, ...(kind === 'buffered' ? { body } : {}) })
    if (kind !== 'buffered') {
      await tick()
      if (controller.aborted) return handler.onResponseError(controller, gatewayError('GW_ERR_CLIENT_CLOSED'))
      handler.onResponseData(controller, body)
    }
    handler.onResponseEnd(controller, { outcome: 'ok' })
    return
  }
  handler.onResponseStart(controller, { status: 200, headers: { 'content-type': 'text/event-stream' }, kind: 'sse' })
  for (const chunk of step.chunks) {
    await tick()
    if (controller.aborted) return handler.onResponseEnd(controller, { outcome: 'client_abort' })
    handler.onResponseData(controller, Buffer.from(chunk))
  }
  await tick()
  handler.onResponseEnd(controller, { outcome: step.breaks === true ? 'upstream_error' : 'ok' })
}

/** What the handler above the router saw, in order. */
export interface Seen {
  events: string[]
  head?: ResponseHead
  chunks: Buffer[]
  end?: ResponseEnd
  error?: GatewayError
  controllers: Set<unknown>
  done: Promise<void>
}

export function recordingHandler (hooks: { onStart?: (c: import('../../src/proxy/interceptor.js').Controller) => void } = {}): { handler: ResponseHandler, seen: Seen } {
  let resolve!: () => void
  const seen: Seen = { events: [], chunks: [], controllers: new Set(), done: new Promise((_resolve) => { resolve = _resolve }) }
  const handler: ResponseHandler = {
    onRequestStart (c) { seen.controllers.add(c); seen.events.push('start'); hooks.onStart?.(c) },
    onResponseStart (c, head) { seen.controllers.add(c); seen.events.push(`head ${head.status}`); seen.head = head },
    onResponseData (c, chunk) { seen.controllers.add(c); seen.events.push('data'); seen.chunks.push(chunk) },
    onResponseEnd (c, end) { seen.controllers.add(c); seen.events.push(`end ${end.outcome}`); seen.end = end; resolve() },
    onResponseError (c, error) { seen.controllers.add(c); seen.events.push(`error ${error.code}`); seen.error = error; resolve() }
  }
  return { handler, seen }
}

export function request (model: string | undefined = 'gpt-5.2'): GatewayRequest {
  return {
    id: 'req_test',
    method: 'POST',
    route: '/v1/chat/completions',
    path: '/chat/completions',
    headers: {},
    startedAt: 0,
    principal: { id: 'k1', name: 'test', teamId: null, teamName: null },
    body: Buffer.from(JSON.stringify({ model })),
    json: { model },
    model,
    stream: false
  }
}
