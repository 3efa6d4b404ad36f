import { afterEach, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { chat, errorAnswer, metric, scriptedServer, upstreamsGateway, type ScriptedServer, type UpstreamsGateway } from './servers.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const COOLDOWN_MS = 4000

describe('cooldown and probe', () => {
  let flaky: ScriptedServer
  let good: MockUpstream
  let g: UpstreamsGateway
  afterEach(async () => {
    await g.close()
    await good.close()
    await flaky.close()
  })

  async function setUp (): Promise<void> {
    flaky = await scriptedServer(errorAnswer(503))
    good = await startMockUpstream()
    g = await upstreamsGateway([{ name: 'flaky', base_url: flaky.baseUrl, weight: 1000 }, { name: 'good', base_url: good.baseUrl }], {
      UPSTREAM_FAILURES_TO_COOLDOWN: 3,
      UPSTREAM_COOLDOWN_MS: COOLDOWN_MS
    }, good)
  }

  /**
   * Requests sent while the cooldown certainly still runs (it began no earlier than
   * `since`): each must go to `good`. Returns how many were sent.
   */
  async function duringCooldown (since: number): Promise<number> {
    let sent = 0
    while (sent < 5 && Date.now() < since + COOLDOWN_MS - 500) {
      expect(await upstreamOf()).toBe('good')
      sent++
    }
    return sent
  }

  async function upstreamOf (): Promise<string | null> {
    const { response } = await g.client.chat.completions.create(chat).withResponse()
    expect(response.status).toBe(200)
    return response.headers.get('x-gateway-upstream')
  }

  it('N failures in a row: no traffic for the cooldown, then one probe brings it back', async () => {
    await setUp()
    for (let i = 0; i < 2; i++) expect(await upstreamOf()).toBe('good')
    const since = Date.now()
    expect(await upstreamOf()).toBe('good')
    expect(flaky.requests).toHaveLength(3)
    expect(await metric(g.gw, 'gateway_upstream_up{upstream="flaky"}')).toBe(0)
    // Cooling: despite its weight, nothing goes there.
    expect(await duringCooldown(since)).toBeGreaterThan(0)
    expect(flaky.requests).toHaveLength(3)
    // The upstream recovers; once the cooldown is over, the next request probes it.
    flaky.answer = (_req, res) => {
      const body = JSON.stringify({ id: 'chatcmpl-flaky', object: 'chat.completion', created: 1, model: chat.model, choices: [{ index: 0, message: { role: 'assistant', content: 'back' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })
      res.writeHead(200, { 'content-type': 'application/json' }).end(body)
    }
    await sleep(Math.max(0, since + COOLDOWN_MS + 200 - Date.now()))
    expect(await upstreamOf()).toBe('flaky')
    expect(flaky.requests).toHaveLength(4)
    expect(await metric(g.gw, 'gateway_upstream_up{upstream="flaky"}')).toBe(1)
    expect(await upstreamOf()).toBe('flaky')
  })

  it('a failed probe means another full cooldown; the probe request itself is served elsewhere', async () => {
    await setUp()
    for (let i = 0; i < 3; i++) await upstreamOf()
    await sleep(COOLDOWN_MS + 200)
    const since = Date.now()
    expect(await upstreamOf()).toBe('good')
    expect(flaky.requests).toHaveLength(4)
    expect(await metric(g.gw, 'gateway_upstream_up{upstream="flaky"}')).toBe(0)
    expect(await duringCooldown(since)).toBeGreaterThan(0)
    expect(flaky.requests).toHaveLength(4)
  })

  it('with every upstream of the model cooling, the client gets 502 with a retry-after and nothing is sent', async () => {
    flaky = await scriptedServer(errorAnswer(503))
    good = await startMockUpstream()
    g = await upstreamsGateway([{ name: 'flaky', base_url: flaky.baseUrl }], { UPSTREAM_FAILURES_TO_COOLDOWN: 2, UPSTREAM_COOLDOWN_MS: 30_000, UPSTREAM_RETRIES: 1 }, good)
    const first = await g.client.chat.completions.create(chat).catch((e: { status: number }) => e)
    expect((first as { status: number }).status).toBe(503)
    expect(flaky.requests).toHaveLength(2)
    const res = await fetch(`${g.gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${g.client.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(chat) })
    expect(res.status).toBe(502)
    const body = await res.json() as { error: { code: string, message: string } }
    expect(body.error.code).toBe('upstream_unavailable')
    expect(body.error.message).toContain('cooling down')
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(flaky.requests).toHaveLength(2)
  })
})
