import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import OpenAI from 'openai'
import { startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'

/** A base URL whose port refuses connections: a server that listened once and closed. */
export async function closedPortUrl (): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}/v1`
}

export interface ScriptedServer {
  readonly baseUrl: string
  /** Requests received (method and url). */
  readonly requests: string[]
  /** What to answer; change it between requests. */
  answer: (req: IncomingMessage, res: ServerResponse) => void
  close (): Promise<void>
}

/** A node:http upstream whose every answer is `answer` (500, 429, hang, …). */
export async function scriptedServer (answer: ScriptedServer['answer']): Promise<ScriptedServer> {
  const sockets = new Set<Socket>()
  const requests: string[] = []
  const self: ScriptedServer = {
    baseUrl: '',
    requests,
    answer,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })
  }
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    req.resume()
    req.on('end', () => self.answer(req, res))
  })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  Object.assign(self, { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` })
  return self
}

/** OpenAI-shaped error answers. */
export function errorAnswer (status: number, headers: Record<string, string> = {}): ScriptedServer['answer'] {
  return (_req, res) => {
    const body = JSON.stringify({ error: { message: `upstream says ${status}`, type: 'server_error', param: null, code: null } })
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers })
    res.end(body)
  }
}

/** Never answers (the headers timeout fires). */
export const hang: ScriptedServer['answer'] = () => {}

export const chat = { model: 'gpt-5.2-chat-latest', messages: [{ role: 'user' as const, content: 'hi' }] }

export interface UpstreamsGateway {
  gw: TestGateway
  client: OpenAI
  close (): Promise<void>
}

/**
 * A gateway with an `upstreams` section; the helper's own mock is the first healthy
 * upstream when `mock` is given. The SDK never retries (maxRetries 0): what retries is the gateway.
 */
export async function upstreamsGateway (upstreams: Array<Record<string, unknown>>, overrides: Record<string, unknown> = {}, mock?: MockUpstream): Promise<UpstreamsGateway> {
  const own = mock ?? await startMockUpstream()
  const withKeys = upstreams.map((u) => ({ api_key: `sk-${String(u.name)}-key`, ...u }))
  const gw = await startGateway({ upstreams: withKeys, UPSTREAM_FAILURES_TO_COOLDOWN: 1000, LOG_LEVEL: 'warn', ...overrides }, {}, own)
  return {
    gw,
    client: new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 }),
    close: async () => {
      await gw.close()
      if (mock === undefined) await own.close()
    }
  }
}

/** The value of one series on /metrics, or undefined when it is not there. */
export async function metric (gw: TestGateway, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${gw.url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(series + ' '))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}
