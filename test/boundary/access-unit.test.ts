import { describe, expect, it } from 'vitest'
import { accessInterceptor } from '../../src/access/interceptor.js'
import { DEFAULT_ROUTES, globMatch, isRouteAllowed, routesSchema } from '../../src/access/routes.js'
import { keyRecordSchema } from '../../src/auth/key-record.js'
import { keyPrincipal, type KeyPrincipal, type TeamLimits } from '../../src/auth/principal.js'
import { createPriceTable } from '../../src/metering/pricing.js'
import { LocalController, type GatewayRequest, type ResponseHandler, type ResponseHead } from '../../src/proxy/interceptor.js'
import type { GatewayError } from '../../src/errors.js'

const key = (fields: Record<string, unknown> = {}) => keyRecordSchema.parse({ id: 'key_1', name: 'alice', key_prefix: 'sk-abc', created_at: '2026-01-01T00:00:00Z', ...fields })
const team = (fields: Partial<TeamLimits> = {}): TeamLimits => ({ id: 'team_1', name: 'eng', rpm: null, tpm: null, max_concurrency: null, budget_usd: null, budget_period: 'month', models: null, ...fields })

function request (principal: KeyPrincipal, path: string, model?: string, method = 'POST'): GatewayRequest<KeyPrincipal> {
  return { id: 'r', method, route: '/v1/x', path, headers: {}, startedAt: 0, principal, body: undefined, json: undefined, model, stream: false }
}

/** Runs one request through the access interceptor over a terminal that answers `head`. */
function run (req: GatewayRequest<KeyPrincipal>, head: ResponseHead = { status: 200, headers: {}, kind: 'buffered', body: Buffer.from('{}') }, unpricedModels: 'deny_budgeted' | 'deny' | 'allow' = 'deny_budgeted') {
  const seen: { relayed: boolean, error?: GatewayError, head?: ResponseHead, aborted: boolean } = { relayed: false, aborted: false }
  const controller = new LocalController({ abort: () => { seen.aborted = true } })
  const dispatch = accessInterceptor({ prices: createPriceTable({ 'gpt-5*': { input: 1, output: 2 } }), unpricedModels, upstreamSecrets: ['sk-upstream-secret'] })((_r, h) => {
    seen.relayed = true
    h.onRequestStart(controller)
    h.onResponseStart(controller, head)
    h.onResponseEnd(controller, { outcome: 'ok' })
  })
  const handler: ResponseHandler = {
    onRequestStart () {},
    onResponseStart (_c, h) { seen.head = h },
    onResponseData () {},
    onResponseEnd () {},
    onResponseError (_c, e) { seen.error ??= e }
  }
  dispatch(req, handler)
  return seen
}

describe('routes a key may use', () => {
  it('the default set', () => {
    for (const r of ['chat/completions', 'responses', 'responses/resp_1/input_items', 'embeddings', 'completions', 'moderations', 'images/generations', 'audio/speech', 'models', 'models/gpt-5', 'files', 'files/f1/content', 'uploads/u1/parts', 'vector_stores/vs_1/files', 'batches/b1/cancel', 'containers/c1/files', 'conversations/c1/items', 'realtime']) {
      expect(isRouteAllowed(null, r), r).toBe(true)
    }
    for (const r of ['organization/users', 'organization/admin_api_keys', 'fine_tuning/jobs', 'evals', 'evals/e1/runs', 'realtime/sessions', 'realtime/client_secrets', 'realtime/transcription_sessions', 'assistants', 'threads/t1/runs', 'x', '', 'chat/completions/c1', 'images', 'audio']) {
      expect(isRouteAllowed(null, r), r).toBe(false)
    }
    expect(DEFAULT_ROUTES).toHaveLength(15)
  })

  it('a key\'s own list replaces the default set', () => {
    const routes = routesSchema.parse(['/v1/chat/completions', 'fine_tuning/*'])
    expect(routes).toEqual(['chat/completions', 'fine_tuning/*'])
    expect(isRouteAllowed(routes, 'fine_tuning/jobs')).toBe(true)
    expect(isRouteAllowed(routes, 'responses')).toBe(false)
    expect(() => routesSchema.parse([])).toThrow(/at least one/)
    expect(() => routesSchema.parse(['a b'])).toThrow()
  })

  it('glob matching is exact outside stars and bounded on hostile input', () => {
    expect(globMatch('a*b*c', 'axxbyyc')).toBe(true)
    expect(globMatch('a*b*c', 'axxbyy')).toBe(false)
    expect(globMatch('*', '')).toBe(true)
    expect(globMatch('files*', 'files')).toBe(true)
    const path = 'a'.repeat(20_000)
    const started = performance.now()
    expect(globMatch('*a*a*a*a*a*a*a*b', path)).toBe(false)
    // Generous bound: the point is "not exponential".
    expect(performance.now() - started).toBeLessThan(2000)
  })

  it('403 route_not_allowed before anything is relayed', () => {
    const seen = run(request(keyPrincipal(key()), '/organization/users?limit=1', undefined, 'GET'))
    expect(seen.relayed).toBe(false)
    expect(seen.error).toMatchObject({ status: 403, openaiCode: 'route_not_allowed' })
    expect(seen.error?.message).toContain('/v1/organization/users')
    expect(run(request(keyPrincipal(key({ routes: ['organization/*'] })), '/organization/users', undefined, 'GET')).relayed).toBe(true)
  })
})

describe('models a key may use', () => {
  it('the key\'s and the team\'s allow-lists both apply', () => {
    const p = keyPrincipal(key({ models: ['gpt-5*'] }), team({ models: ['gpt-5-mini'] }))
    expect(run(request(p, '/chat/completions', 'gpt-5-mini')).relayed).toBe(true)
    const byTeam = run(request(p, '/chat/completions', 'gpt-5'))
    expect(byTeam.relayed).toBe(false)
    expect(byTeam.error).toMatchObject({ status: 403, openaiCode: 'model_not_allowed', param: 'model' })
    expect(run(request(p, '/chat/completions', 'o3')).error?.openaiCode).toBe('model_not_allowed')
  })

  it('a restricted key must name the model where the body chooses it', () => {
    const p = keyPrincipal(key({ models: ['gpt-5*'] }))
    expect(run(request(p, '/responses')).error).toMatchObject({ status: 400, param: 'model' })
    expect(run(request(p, '/images/edits')).error).toMatchObject({ status: 400, param: 'model' })
    // Reading objects back names no model.
    expect(run(request(p, '/responses/resp_1', undefined, 'GET')).relayed).toBe(true)
    // A key without limits may leave it to a stored prompt.
    expect(run(request(keyPrincipal(key()), '/responses')).relayed).toBe(true)
  })
})

describe('models without a price', () => {
  it('deny_budgeted: a key with a budget, or in a team with one, gets 403 model_not_priced', () => {
    const own = run(request(keyPrincipal(key({ budget_usd: 1 })), '/chat/completions', 'mystery-model'))
    expect(own.relayed).toBe(false)
    expect(own.error).toMatchObject({ status: 403, openaiCode: 'model_not_priced', param: 'model' })
    expect(run(request(keyPrincipal(key(), team({ budget_usd: 10 })), '/chat/completions', 'mystery-model')).error?.openaiCode).toBe('model_not_priced')
    expect(run(request(keyPrincipal(key({ budget_usd: 1 })), '/chat/completions', 'gpt-5-mini')).relayed).toBe(true)
    expect(run(request(keyPrincipal(key()), '/chat/completions', 'mystery-model')).relayed).toBe(true)
    expect(run(request(keyPrincipal(key({ budget_usd: 1 })), '/responses')).error).toMatchObject({ status: 400, param: 'model' })
  })

  it('deny refuses every key; allow serves every key', () => {
    expect(run(request(keyPrincipal(key()), '/chat/completions', 'mystery-model'), undefined, 'deny').error?.openaiCode).toBe('model_not_priced')
    expect(run(request(keyPrincipal(key({ budget_usd: 1 })), '/chat/completions', 'mystery-model'), undefined, 'allow').relayed).toBe(true)
  })
})

describe('answers', () => {
  const p = keyPrincipal(key())
  it('an upstream redirect becomes 502 upstream_redirect, location never shown', () => {
    const seen = run(request(p, '/models', undefined, 'GET'), { status: 307, headers: { location: 'https://evil.example/v1/models' }, kind: 'buffered', body: Buffer.alloc(0) })
    expect(seen.head).toBeUndefined()
    expect(seen.error).toMatchObject({ status: 502, openaiCode: 'upstream_redirect' })
    expect(seen.error?.message).not.toContain('evil')
    const streamed = run(request(p, '/models', undefined, 'GET'), { status: 302, headers: { location: '/x' }, kind: 'piped' })
    expect(streamed.aborted).toBe(true)
  })

  it('the upstream key is scrubbed from headers and buffered bodies', () => {
    const seen = run(request(p, '/models', undefined, 'GET'), { status: 401, headers: { 'x-echo': 'Bearer sk-upstream-secret' }, kind: 'buffered', body: Buffer.from('{"error":{"message":"Incorrect API key provided: sk-upstream-secret"}}') })
    expect(seen.head?.headers['x-echo']).toBe('Bearer sk-***')
    expect(seen.head?.body?.toString()).toBe('{"error":{"message":"Incorrect API key provided: sk-***"}}')
  })
})
