import { group } from './harness.js'
import { LocalController, type Dispatch, type GatewayRequest, type ResponseHandler } from '../../src/proxy/interceptor.js'
import { UpstreamHealth } from '../../src/upstreams/health.js'
import { createUpstreamRouter } from '../../src/upstreams/router.js'

/**
 * What the upstream router adds to a request that succeeds at once: a synchronous fake
 * terminal answers a buffered 200, bare and behind the router (one upstream, then three
 * with weights and model patterns).
 */
export function upstreamRouterBench (timeMs?: number): string {
  const head = { status: 200, headers: {} as Record<string, string>, kind: 'buffered' as const, body: Buffer.from('{}') }
  const terminal: Dispatch = (_req, handler) => {
    const c = new LocalController()
    handler.onRequestStart(c)
    handler.onResponseStart(c, head)
    handler.onResponseEnd(c, { outcome: 'ok' })
  }
  const handler: ResponseHandler = { onRequestStart () {}, onResponseStart () {}, onResponseData () {}, onResponseEnd () {}, onResponseError () {} }
  const request: GatewayRequest = { id: 'r', method: 'POST', route: '/v1/chat/completions', path: '/chat/completions', headers: {}, startedAt: 0, principal: { id: 'k', name: 'k', teamId: null, teamName: null }, body: undefined, json: undefined, model: 'gpt-5.2-chat-latest', stream: false }
  const health = () => new UpstreamHealth({ failuresToCooldown: 5, cooldownMs: 30_000 })
  const one = createUpstreamRouter([{ name: 'default', weight: 1, models: null, health: health(), dispatch: terminal }], { retries: 2 })
  const three = createUpstreamRouter([
    { name: 'a', weight: 3, models: ['gpt-5.2*'], health: health(), dispatch: terminal },
    { name: 'b', weight: 1, models: ['gpt-5.2*', '*-mini'], health: health(), dispatch: terminal },
    { name: 'c', weight: 1, models: null, health: health(), dispatch: terminal }
  ], { retries: 2 })
  return group('Upstream router (a request answered at once)', [
    { name: 'terminal alone', fn: () => terminal(request, handler) },
    { name: 'router, one upstream', fn: () => one(request, handler) },
    { name: 'router, three upstreams (weights, models)', fn: () => three(request, handler) }
  ], timeMs)
}
