import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'

/** One span as OTLP/HTTP JSON carries it, attributes flattened. */
interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  startTimeUnixNano: string
  endTimeUnixNano: string
  attributes: Record<string, string | number | boolean>
}

interface OtlpValue { stringValue?: string, intValue?: string | number, doubleValue?: number, boolValue?: boolean }

/** A real OTLP/HTTP receiver: decodes every POST /v1/traces (JSON encoding) into spans. */
async function startReceiver (): Promise<{ url: string, spans: ReceivedSpan[], server: Server }> {
  const spans: ReceivedSpan[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.method === 'POST') {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Omit<ReceivedSpan, 'attributes'> & { attributes: Array<{ key: string, value: OtlpValue }> }> }> }> }
        for (const rs of body.resourceSpans) {
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              const attributes: ReceivedSpan['attributes'] = {}
              for (const a of s.attributes) {
                const v = a.value
                attributes[a.key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue!
              }
              spans.push({ ...s, attributes })
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, server }
}

describe('OpenTelemetry traces over OTLP/HTTP', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let gw: TestGateway

  beforeAll(async () => {
    receiver = await startReceiver()
    gw = await startGateway({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
  })
  afterAll(async () => {
    await gw?.close()
    receiver?.server.close()
  })

  it('exports one chat span per request in the GenAI conventions, continuing the caller\'s trace and passing it upstream', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const parent = '00f067aa0ba902b7'
    const res = await gw.client().chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }], max_tokens: 77 }, { headers: { traceparent: `00-${traceId}-${parent}-01` } })
    expect(res.choices[0]!.message.content).toBeTruthy()
    await waitFor(() => receiver.spans.some((s) => s.traceId === traceId), 15_000)
    const span = receiver.spans.find((s) => s.traceId === traceId)!
    expect(span.name).toBe('chat gpt-5.2-chat-latest')
    expect(span.parentSpanId).toBe(parent)
    expect(span.kind).toBe(3) // SPAN_KIND_CLIENT
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-5.2-chat-latest',
      'gen_ai.request.max_tokens': 77,
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'server.address': '127.0.0.1',
      'gateway.key.name': 'test',
      'gateway.cost_usd': 0.006265,
      'gateway.upstream': 'default'
    })
    expect(typeof span.attributes['gen_ai.response.model']).toBe('string')
    // The upstream saw this span as its parent.
    const upstreamCall = gw.mock.requests.find((r) => String(r.headers.traceparent ?? '').includes(traceId))
    expect(upstreamCall?.headers.traceparent).toBe(`00-${traceId}-${span.spanId}-01`)
  })

  it('ends a stream\'s span when the stream ends, with the responses route as chat', async () => {
    // A slow stream: 5 content chunks 60 ms apart, so its span must last at least that long.
    const slow = await startGateway({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, { chunkDelayMs: 60, chunks: 5 })
    try {
      const started = performance.now()
      const stream = await slow.client().responses.create({ model: 'gpt-5.2-chat-latest', input: 'hi', stream: true })
      let events = 0
      for await (const event of stream) {
        events++
        expect(event.type).toBeTruthy()
      }
      const clientMs = performance.now() - started
      expect(events).toBeGreaterThan(5)
      await waitFor(() => receiver.spans.some((s) => s.attributes['http.route'] === '/v1/responses'), 15_000)
      const span = receiver.spans.find((s) => s.attributes['http.route'] === '/v1/responses')!
      expect(span.attributes['gen_ai.operation.name']).toBe('chat')
      expect(span.attributes['gen_ai.usage.output_tokens']).toBe(500)
      const spanMs = Number(BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano)) / 1e6
      // The mock waits 60 ms before each of the events after the first: the span covers them all.
      expect(spanMs).toBeGreaterThanOrEqual((events - 1) * 60 * 0.9)
      expect(spanMs).toBeLessThanOrEqual(clientMs + 50)
    } finally {
      await slow.close()
    }
  })
})
