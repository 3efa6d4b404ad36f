import type { ServerResponse } from 'node:http'
import { startMockUpstream, chatUsage, DEFAULT_USAGE } from '../src/mock/upstream.js'
import { freePort, isMain, LOAD_CORE, siblingScript, spawnPinned, waitHttp, type Child } from './processes.js'

/**
 * The benchmark's origin: the project's mock CometAPI (src/mock/upstream.ts) in its own
 * process on the load core. `--chunks` content events per stream, written back to back.
 *
 * `--slow-ms N` switches every chat request to a slow stream: `--slow-events` content
 * events N ms apart, each carrying `"t":<CLOCK_MONOTONIC ns>` of its write, so the
 * client (another process on the same machine, same clock) can tell how long the proxy
 * held each event.
 */

export interface OriginOptions {
  chunks: number
  slowMs?: number
  slowEvents?: number
}

export interface Origin extends Child {
  readonly url: string
}

/** Starts the origin process and waits until it answers. */
export async function startOrigin (opts: OriginOptions): Promise<Origin> {
  const port = await freePort()
  const args = [siblingScript('origin'), '--port', String(port), '--chunks', String(opts.chunks)]
  if (opts.slowMs !== undefined) args.push('--slow-ms', String(opts.slowMs), '--slow-events', String(opts.slowEvents ?? 10))
  const child = spawnPinned('origin', LOAD_CORE, process.execPath, args)
  const url = `http://127.0.0.1:${port}`
  await waitHttp(`${url}/v1/models`, child)
  return { ...child, url }
}

const BASE = '{"id":"chatcmpl-slow","object":"chat.completion.chunk","created":1767225600,"model":"gpt-5.2-chat-latest","system_fingerprint":"fp_mock"'

/** A slow chat stream whose events say when they were written. */
async function slowStream (res: ServerResponse, body: Buffer, everyMs: number, events: number): Promise<void> {
  const includeUsage = body.includes('"include_usage":true')
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
  for (let i = 0; i < events; i++) {
    if (res.destroyed) return
    res.write(`data: ${BASE},"t":${process.hrtime.bigint()},"choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  res.write(`data: ${BASE},"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n`)
  if (includeUsage) res.write(`data: ${BASE},"choices":[],"usage":${JSON.stringify(chatUsage(DEFAULT_USAGE))}}\n\n`)
  res.end('data: [DONE]\n\n')
}

function arg (name: string): number | undefined {
  const i = process.argv.indexOf(name)
  return i === -1 ? undefined : Number(process.argv[i + 1])
}

if (isMain(import.meta.url)) {
  const mock = await startMockUpstream({ chunks: arg('--chunks') ?? 20 }, arg('--port') ?? 0)
  // The mock records every request for the tests; a benchmark sends millions.
  setInterval(() => { mock.requests.length = 0 }, 500)
  const slowMs = arg('--slow-ms')
  if (slowMs !== undefined) {
    const events = arg('--slow-events') ?? 10
    // Runs before the mock's own listener, which then takes this handler from its queue.
    mock.server.prependListener('request', (req: { method?: string }) => {
      if (req.method === 'POST') mock.once((_req, body, res) => slowStream(res, body, slowMs, events))
    })
  }
  process.once('SIGTERM', () => { mock.close().then(() => process.exit(0), () => process.exit(1)) })
}
