import { afterEach, describe, expect, it } from 'vitest'
import { chatStreamEvents, startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { waitFor } from '../helpers/gateway.js'
import { chat, closedPortUrl, scriptedServer, upstreamsGateway, type ScriptedServer, type UpstreamsGateway } from './servers.js'

describe('streams and retries', () => {
  let good: MockUpstream
  let g: UpstreamsGateway
  let broken: ScriptedServer | undefined
  afterEach(async () => {
    await g.close()
    await good.close()
    await broken?.close()
    broken = undefined
  })

  it('a stream is retried on another upstream while nothing went out', async () => {
    good = await startMockUpstream()
    g = await upstreamsGateway([{ name: 'down', base_url: await closedPortUrl(), weight: 1000 }, { name: 'good', base_url: good.baseUrl }], {}, good)
    const { data: stream, response } = await g.client.chat.completions.create({ ...chat, stream: true }).withResponse()
    expect(response.headers.get('x-gateway-upstream')).toBe('good')
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    expect(text).toContain('Hello')
  })

  it('once the first byte of a stream went to the client nothing is retried', async () => {
    good = await startMockUpstream()
    // Sends its head and two events, then the connection breaks.
    broken = await scriptedServer((_req, res) => {
      const events = chatStreamEvents(chat.model, 5, undefined)
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(events[0])
      res.write(events[1])
      setTimeout(() => res.socket?.destroy(), 50)
    })
    g = await upstreamsGateway([{ name: 'broken', base_url: broken.baseUrl, weight: 1000 }, { name: 'good', base_url: good.baseUrl }], {}, good)
    const { data: stream, response } = await g.client.chat.completions.create({ ...chat, stream: true }).withResponse()
    expect(response.headers.get('x-gateway-upstream')).toBe('broken')
    const received: string[] = []
    const failure = await (async () => {
      for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '')
    })().then(() => undefined, (e: unknown) => e)
    // The client got the first events from `broken`, then the stream ended short: no retry
    // could have replayed it elsewhere without duplicating what the client already has.
    expect(received.length).toBeGreaterThanOrEqual(2)
    expect(received.join('')).toBe('Hello')
    expect(failure === undefined || failure instanceof Error).toBe(true)
    expect(broken.requests).toHaveLength(1)
    expect(good.requests).toHaveLength(0)
  })

  it('a client that leaves ends the upstream request of the attempt after a failover', async () => {
    good = await startMockUpstream({ latencyMs: 10_000 })
    g = await upstreamsGateway([{ name: 'down', base_url: await closedPortUrl(), weight: 1000 }, { name: 'slow', base_url: good.baseUrl }], {}, good)
    const controller = new AbortController()
    const pending = g.client.chat.completions.create({ ...chat, stream: true }, { signal: controller.signal }).catch((e: unknown) => e)
    await waitFor(() => good.requests.length === 1)
    controller.abort()
    await pending
    await waitFor(() => good.requests[0]!.aborted, 5000)
    expect(good.requests).toHaveLength(1)
  })
})
