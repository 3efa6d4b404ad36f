import type { IncomingMessage } from 'node:http'
import type { KeyPrincipal } from '../auth/principal.js'
import type { GatewayError } from '../errors.js'
import type { TokenUsage } from '../metering/usage.js'
import { LocalController, type Dispatch, type GatewayRequest, type Outcome, type ResponseHandler, type UsageSummary } from '../proxy/interceptor.js'

/** One admitted realtime session, as the relay drives it. */
export interface RealtimeSession {
  /** The upstream socket is open and the client's upgrade done. */
  open (): void
  /** One `response.done` with usage. */
  meter (tokens: TokenUsage): void
  /** The session is over (either side closed). */
  end (outcome: Outcome): void
  /** The upstream could not be reached or refused: no session after all. */
  fail (error: GatewayError): void
}

export interface PathAdmissionOptions {
  /**
   * The request path's admission part (recorder, access, limits …) in front of a given
   * terminal: a realtime session is one request on it, held open for the session's length.
   */
  readonly path: (terminal: Dispatch<KeyPrincipal>) => Dispatch<KeyPrincipal>
  /** Meters one `response.done` (one usage record). */
  readonly meterTokens: (req: GatewayRequest<KeyPrincipal>, model: string | undefined, tokens: TokenUsage) => UsageSummary
}

function add (a: UsageSummary | undefined, b: UsageSummary): UsageSummary {
  if (a === undefined) return b
  return {
    ...b,
    inputTokens: a.inputTokens + b.inputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
    costNanos: a.costNanos + b.costNanos
  }
}

/**
 * Admits a realtime session through the same interceptors as any request, so the key's
 * routes and models, rpm, concurrency (held for the whole session), tpm and budget
 * (settled with the session's total usage when it ends) and the log line and metrics
 * apply unchanged. Resolves with the session once every interceptor let it through;
 * rejects with the refusal (403, 429, …) otherwise.
 */
export function pathAdmission (opts: PathAdmissionOptions) {
  return (principal: KeyPrincipal, model: string | undefined, requestId: string, req: IncomingMessage, query: string): Promise<RealtimeSession> => new Promise((resolve, reject) => {
    let admitted = false
    const request: GatewayRequest<KeyPrincipal> = {
      id: requestId,
      method: 'GET',
      route: '/v1/realtime',
      path: '/realtime' + query,
      headers: req.headers,
      startedAt: performance.now(),
      principal,
      body: undefined,
      json: undefined,
      model,
      stream: true
    }
    const terminal: Dispatch<KeyPrincipal> = (admittedRequest, handler) => {
      admitted = true
      const controller = new LocalController()
      handler.onRequestStart(controller)
      let total: UsageSummary | undefined
      let done = false
      let opened = false
      const open = (): void => {
        if (opened) return
        opened = true
        handler.onResponseStart(controller, { status: 101, headers: {}, kind: 'piped' })
      }
      resolve({
        open,
        meter: (tokens) => { total = add(total, opts.meterTokens(admittedRequest, model, tokens)) },
        end: (outcome) => {
          if (done) return
          done = true
          // A client that left while the upstream socket was opening never had a session.
          if (!opened) outcome = 'client_abort'
          open()
          handler.onResponseEnd(controller, total === undefined ? { outcome } : { outcome, usage: total })
        },
        fail: (error) => {
          if (done) return
          done = true
          handler.onResponseError(controller, error)
        }
      })
    }
    // What the interceptors hand back to the client side: only a refusal matters here.
    const sink: ResponseHandler = {
      onRequestStart () {},
      onResponseStart () {},
      onResponseData () {},
      onResponseEnd () {},
      onResponseError (_c, error) { if (!admitted) reject(error) }
    }
    opts.path(terminal)(request, sink)
  })
}
