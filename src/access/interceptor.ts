import type { UnpricedModels } from './policy.js'
import { accessRefusal } from './policy.js'
import type { KeyPrincipal } from '../auth/principal.js'
import type { PriceTable } from '../metering/pricing.js'
import { ForwardingHandler, refuse, type Controller, type Interceptor, type ResponseEnd, type ResponseHandler, type ResponseHead } from '../proxy/interceptor.js'
import { isUpstreamRedirect, scrubBody, scrubHeaders } from '../proxy/headers.js'
import { gatewayError, type GatewayError } from '../errors.js'

export interface AccessOptions {
  readonly prices: PriceTable
  readonly unpricedModels: UnpricedModels
  /** Upstream credentials (raw keys) that must never reach a client. */
  readonly upstreamSecrets: readonly string[]
}

/**
 * The access interceptor: what a key may reach, decided before anything goes upstream
 * (routes, model allow-lists of the key and its team, models without a price), and what
 * the answer may show (no redirect, no upstream credential).
 * @example compose(terminal, recorder, access({ prices, unpricedModels: 'deny_budgeted', upstreamSecrets }), limits)
 */
export function accessInterceptor (opts: AccessOptions): Interceptor<KeyPrincipal> {
  const secrets = opts.upstreamSecrets.filter((s) => s.length >= 8)
  const secretBytes = secrets.map((s) => Buffer.from(s))
  return (next) => function access (request, handler) {
    const refusal = accessRefusal(request, opts.prices, opts.unpricedModels)
    if (refusal !== undefined) {
      refuse(handler, refusal)
      return
    }
    next(request, new AnswerGuard(handler, secrets, secretBytes))
  }
}

/**
 * Guards the answer on its way out: an upstream redirect becomes 502 `upstream_redirect`
 * (the location is never shown; an SDK would follow it to a host nobody chose, prompt
 * included), and the upstream key is replaced by `sk-***` in headers and buffered bodies.
 */
class AnswerGuard extends ForwardingHandler {
  #blocked = false

  constructor (inner: ResponseHandler, private readonly secrets: readonly string[], private readonly secretBytes: readonly Buffer[]) {
    super(inner)
  }

  override onResponseStart (controller: Controller, head: ResponseHead): void {
    if (isUpstreamRedirect(head.status, head.headers)) {
      this.#blocked = true
      if (head.kind !== 'buffered') controller.abort(new Error('upstream redirect'))
      this.inner.onResponseError(controller, gatewayError('GW_ERR_UPSTREAM_REDIRECT'))
      return
    }
    if (this.secrets.length === 0) {
      this.inner.onResponseStart(controller, head)
      return
    }
    const headers = scrubHeaders(head.headers, this.secrets)
    const body = head.body !== undefined ? scrubBody(head.body, this.secretBytes) : undefined
    this.inner.onResponseStart(controller, headers === head.headers && body === head.body ? head : { ...head, headers, body })
  }

  override onResponseData (controller: Controller, chunk: Buffer): void {
    if (!this.#blocked) this.inner.onResponseData(controller, chunk)
  }

  override onResponseEnd (controller: Controller, end: ResponseEnd): void {
    if (!this.#blocked) this.inner.onResponseEnd(controller, end)
  }

  override onResponseError (controller: Controller, error: GatewayError): void {
    if (!this.#blocked) this.inner.onResponseError(controller, error)
  }
}
