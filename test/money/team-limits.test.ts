import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { keyPrincipal, type KeyPrincipal, type TeamLimits } from '../../src/auth/principal.js'
import { configFrom } from '../../src/config/load.js'
import { createLogger } from '../../src/log.js'
import { createMeteringFeature } from '../../src/metering/feature.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { chatCompletion } from '../../src/mock/upstream.js'
import { compose } from '../../src/proxy/interceptor.js'
import { createRateLimitFeature } from '../../src/ratelimit/feature.js'
import { openSqlite, type SqliteDb } from '../../src/store/sqlite.js'
import { tempDataDir } from '../helpers/gateway.js'
import { Collector, FakeUpstream, gatewayRequest, testKey } from '../path/fake-dispatch.js'

const team = (t: Partial<TeamLimits> = {}): TeamLimits => ({ id: 'team_r', name: 'research', rpm: null, tpm: null, max_concurrency: null, budget_usd: null, budget_period: 'month', models: null, ...t })
const CHAT = { model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }

/** The real limits and metering interceptors, in their order, over a fake upstream; the embedded store. */
function setup (): { upstream: FakeUpstream, send: (p: KeyPrincipal) => Collector, close: () => Promise<void> } {
  const dir = tempDataDir()
  const config = configFrom({ UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1', DATA_DIR: dir })
  const log = createLogger('silent', new Writable({ write (_c, _e, cb) { cb() } }))
  const sqlite: SqliteDb = openSqlite(dir)
  const ctx = { config, log, metrics: createMetrics(undefined, { defaultMetrics: false }), redis: undefined, sqlite }
  const metering = createMeteringFeature(ctx)
  const limits = createRateLimitFeature(ctx, metering.ledger)
  const upstream = new FakeUpstream()
  const dispatch = compose<KeyPrincipal>(upstream.dispatch, limits.interceptor!, metering.interceptor!)
  return {
    upstream,
    send: (principal) => {
      const c = new Collector()
      dispatch(gatewayRequest({ principal, json: CHAT }), c)
      return c
    },
    close: async () => { await limits.close?.(); await metering.close?.(); sqlite.close() }
  }
}

/** The mock's answer: 1000 in (600 cached), 500 out = $0.006265. */
const answer = (upstream: FakeUpstream): void => { upstream.json(200, chatCompletion('gpt-5.2-chat-latest', 3, { input: 1000, cached: 600, output: 500, reasoning: 0 })) }
const settled = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 5)) }

describe('a team\'s limits and budget hold across its keys, and refusals name the team', () => {
  let close: (() => Promise<void>) | undefined
  afterEach(async () => { await close?.() })

  it('a team budget counts every key of the team', async () => {
    const s = setup()
    close = s.close
    const t = team({ budget_usd: 0.01 })
    const a = keyPrincipal(testKey({ id: 'key_a', name: 'a' }), t)
    const b = keyPrincipal(testKey({ id: 'key_b', name: 'b' }), t)
    const first = s.send(a)
    await settled()
    answer(s.upstream)
    await first.finished()
    expect(first.head?.status).toBe(200)
    const second = s.send(b)
    await settled()
    answer(s.upstream)
    await second.finished()
    expect(second.head?.status).toBe(200)
    // $0.01253 spent by the team: key a (with no budget of its own) is refused for the team.
    const third = s.send(a)
    await third.finished()
    expect(s.upstream.calls).toHaveLength(2)
    expect(third.error).toMatchObject({ status: 429, openaiCode: 'insufficient_quota', message: 'The team research has spent its monthly budget of $0.01. Ask your gateway admin to raise it.' })
    expect(third.error?.headers).toMatchObject({ 'x-gateway-limit-scope': 'team', 'x-should-retry': 'false' })
  })

  it('team rpm and concurrency: the key passes, the team refuses', async () => {
    const s = setup()
    close = s.close
    const t = team({ max_concurrency: 1, rpm: 2 })
    const a = keyPrincipal(testKey({ id: 'key_a', name: 'a', rpm: 100 }), t)
    const b = keyPrincipal(testKey({ id: 'key_b', name: 'b' }), t)
    const open = s.send(a) // left open
    await settled()
    const busy = s.send(b)
    await busy.finished()
    expect(busy.error).toMatchObject({ status: 429, openaiCode: 'rate_limit_exceeded' })
    expect(busy.error?.message).toContain('concurrent requests on the team research: Limit 1, In flight 1')
    expect(busy.error?.headers['x-gateway-limit-scope']).toBe('team')
    answer(s.upstream)
    await open.finished()
    // The key's own rpm headers; the team took its second request of the minute.
    expect(open.head?.headers['x-ratelimit-limit-requests']).toBe('100')
    const next = s.send(b)
    await settled()
    answer(s.upstream)
    await next.finished()
    expect(next.head?.status).toBe(200)
    const over = s.send(a)
    await over.finished()
    expect(over.error?.headers).toMatchObject({ 'x-gateway-limit-scope': 'team', 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '0' })
  })
})
