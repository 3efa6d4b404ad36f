import type { GatewayError } from '../errors.js'
import { type Controller, type Dispatch, type GatewayRequest, type Principal, type ResponseHandler, type ResponseHead } from '../proxy/interceptor.js'

/** Bytes of an answer collected for a follow-up page (beyond it: no page). */
const MAX_COLLECTED_BYTES = 64 * 1024 * 1024

/**
 * Sends a request the gateway makes itself (the next page of a list) down the rest of
 * the chain and resolves with the body of a successful answer, or undefined.
 */
export function collectBody<P extends Principal> (next: Dispatch<P>, request: GatewayRequest<P>): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let ok = false
    let parts: Buffer[] = []
    let bytes = 0
    const handler: ResponseHandler = {
      onRequestStart (_controller: Controller) {},
      onResponseStart (_controller: Controller, head: ResponseHead) {
        ok = head.status >= 200 && head.status < 300
        if (ok && head.body !== undefined) parts.push(head.body)
      },
      onResponseData (controller: Controller, chunk: Buffer) {
        bytes += chunk.length
        if (bytes > MAX_COLLECTED_BYTES) {
          ok = false
          parts = []
          controller.abort(new Error('page too large'))
          return
        }
        if (ok) parts.push(chunk)
      },
      onResponseEnd () { resolve(ok ? Buffer.concat(parts) : undefined) },
      onResponseError (_controller: Controller, _error: GatewayError) { resolve(undefined) }
    }
    try {
      next(request, handler)
    } catch {
      resolve(undefined)
    }
  })
}
