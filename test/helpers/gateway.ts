import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import OpenAI from 'openai'
import { buildApp } from '../../src/app.js'
import { configFrom } from '../../src/config/load.js'
import type { GatewayConfig } from '../../src/config/schema.js'
import { createDeps } from '../../src/deps.js'
import { createLogger } from '../../src/log.js'
import { drainAndClose } from '../../src/shutdown.js'
import { startMockUpstream, type MockOptions, type MockUpstream } from '../../src/mock/upstream.js'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A client key every test gateway knows (declared as a static key). */
export const TEST_KEY = 'sk-test-0123456789abcdefghijklmnopqrstuvwxyz'
export const ADMIN_KEY = 'admin-test-key-0123456789'
export const UPSTREAM_KEY = 'sk-upstream-secret-abcdefghijklmnop'

export interface TestGateway {
  app: FastifyInstance
  config: GatewayConfig
  url: string
  baseURL: string
  mock: MockUpstream
  /** Every log line the gateway wrote, as text. */
  logs: string[]
  client (apiKey?: string, opts?: Partial<ConstructorParameters<typeof OpenAI>[0]>): OpenAI
  close (): Promise<void>
}

/** A temp DATA_DIR per gateway, so embedded stores never share state between tests. */
export function tempDataDir (): string {
  return mkdtempSync(join(tmpdir(), 'comet-gw-'))
}

/**
 * Starts a real gateway (`app.listen` on a free port) in front of a real mock upstream.
 * `overrides` are config settings (env names or file sections).
 */
export async function startGateway (overrides: Record<string, unknown> = {}, mockOptions: MockOptions = {}, existingMock?: MockUpstream): Promise<TestGateway> {
  const mock = existingMock ?? await startMockUpstream(mockOptions)
  const config = configFrom({
    UPSTREAM_BASE_URL: mock.baseUrl,
    UPSTREAM_API_KEY: UPSTREAM_KEY,
    ADMIN_KEY,
    LOG_LEVEL: 'info',
    DATA_DIR: tempDataDir(),
    keys: [{ name: 'test', key: TEST_KEY }],
    ...overrides
  })
  const logs: string[] = []
  const sink = new Writable({ write (chunk, _enc, cb) { logs.push(String(chunk)); cb() } })
  const log = createLogger(config.LOG_LEVEL, sink)
  const app = await buildApp(config, await createDeps(config, log))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  return {
    app,
    config,
    url,
    baseURL: `${url}/v1`,
    mock,
    logs,
    client: (apiKey = TEST_KEY, opts = {}) => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, ...opts }),
    close: async () => {
      await drainAndClose(app, 2000)
      if (existingMock === undefined) await mock.close()
    }
  }
}

/** Polls `check` until it returns true or `timeoutMs` passes (generous: the machine is busy). */
export async function waitFor (check: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
  throw new Error(`condition not met within ${timeoutMs} ms`)
}

export interface GatewayPair {
  a: TestGateway
  b: TestGateway
  mock: MockUpstream
  /** Closes both gateways, then the mock (the shared store is the caller's). */
  close (): Promise<void>
}

/**
 * Two gateway instances behind one mock upstream, sharing the store the overrides name
 * (e.g. `{ REDIS_URL }` or `{ REDIS_CLUSTER_NODES }`): the horizontal-scaling set-up.
 */
export async function startGatewayPair (overrides: Record<string, unknown>, mockOptions: MockOptions = {}): Promise<GatewayPair> {
  const mock = await startMockUpstream(mockOptions)
  const a = await startGateway(overrides, {}, mock)
  const b = await startGateway(overrides, {}, mock)
  return {
    a,
    b,
    mock,
    close: async () => {
      await a.close()
      await b.close()
      await mock.close()
    }
  }
}
