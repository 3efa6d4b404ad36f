import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { ADMIN_KEY, tempDataDir, waitFor } from '../helpers/gateway.js'
import { freePort } from '../helpers/redis.js'
import { buildCli, cli, CLI } from './cli-run.js'

describe('comet-gateway serve', () => {
  let mock: MockUpstream
  let proc: ChildProcess | undefined
  beforeAll(async () => {
    buildCli()
    mock = await startMockUpstream()
  }, 240_000)
  afterAll(async () => {
    if (proc !== undefined && proc.exitCode === null) proc.kill('SIGKILL')
    await mock?.close()
  })

  it('runs the gateway by default, takes keys from the CLI, and exits 0 on SIGTERM', async () => {
    const port = String(await freePort())
    const env = { PATH: process.env.PATH ?? '', PORT: port, HOST: '127.0.0.1', DATA_DIR: tempDataDir(), UPSTREAM_BASE_URL: mock.baseUrl, UPSTREAM_API_KEY: 'sk-upstream-0000000000', ADMIN_KEY, LOG_LEVEL: 'warn', DRAIN_TIMEOUT_MS: '2000' }
    proc = spawn(process.execPath, [CLI], { env, stdio: 'ignore' })
    const exited = new Promise<number | null>((resolve) => proc!.once('exit', (code) => resolve(code)))
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, 30_000, 100)

    const created = await cli(['keys', 'create', '--name', 'svc', '--json'], { ADMIN_KEY, PORT: port })
    expect(created.code).toBe(0)
    const { key } = JSON.parse(created.stdout) as { key: string }
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: key, maxRetries: 0 })
    const r = await client.chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] })
    expect(r.object).toBe('chat.completion')

    proc.kill('SIGTERM')
    expect(await exited).toBe(0)
  })

  it('refuses a bad setting with exit code 1 and one line naming it', async () => {
    const r = await cli(['serve'], { PORT: 'eighty', DATA_DIR: tempDataDir() })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('PORT')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
  })
})

describe('comet-gateway usage', () => {
  // A scripted stand-in for a gateway's /admin/usage (the documented shape), like the mock upstream.
  let server: Server
  let url: string
  const seen: IncomingMessage[] = []
  beforeAll(async () => {
    buildCli()
    server = createServer((req, res) => {
      seen.push(req)
      res.setHeader('content-type', 'application/json')
      if (req.headers.authorization !== `Bearer ${ADMIN_KEY}`) {
        res.statusCode = 401
        res.end(JSON.stringify({ error: { message: 'Missing or wrong admin key.', type: 'invalid_request_error', param: null, code: 'invalid_admin_key' } }))
        return
      }
      res.end(JSON.stringify({
        object: 'list',
        data: [
          { key_id: 'key_a', key_name: 'alice', model: 'gpt-5.2-chat-latest', requests: 3, input_tokens: 3000, cached_input_tokens: 1800, output_tokens: 1500, reasoning_tokens: 600, cost_usd: 0.0210, cache_hits: 1, saved_usd: 0.007 },
          { key_id: 'key_b', key_name: 'bob', model: 'gpt-5-mini', requests: 1, input_tokens: 10, cached_input_tokens: 0, output_tokens: 5, reasoning_tokens: 0, cost_usd: 0, cache_hits: 0, saved_usd: 0 }
        ],
        total_cost_usd: 0.021
      }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  }, 240_000)
  afterAll(async () => { await new Promise((resolve) => server?.close(resolve)) })

  it('asks for the period and grouping given and prints a table with the total', async () => {
    const r = await cli(['usage', '--from', '2026-11-01', '--to', '2026-11-29', '--group-by', 'key,model', '--url', url], { ADMIN_KEY })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(seen.at(-1)!.url).toBe('/admin/usage?from=2026-11-01&to=2026-11-29&group_by=key%2Cmodel')
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^KEY_NAME\s+KEY_ID\s+MODEL\s+REQUESTS\s+INPUT_TOKENS/)
    expect(lines[1]).toMatch(/^alice\s+key_a\s+gpt-5\.2-chat-latest\s+3\s+3000\s+1800\s+1500\s+600\s+0\.021/)
    expect(lines.at(-1)).toBe('total cost: $0.021')

    const json = await cli(['usage', '--json', '--url', url], { ADMIN_KEY })
    expect(seen.at(-1)!.url).toBe('/admin/usage')
    expect(JSON.parse(json.stdout).total_cost_usd).toBe(0.021)
  })

  it('exits 1 with the gateway\'s message when refused', async () => {
    const r = await cli(['usage', '--url', url], { ADMIN_KEY: 'admin-wrong-key-0000' })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('comet-gateway: 401 invalid_admin_key: Missing or wrong admin key.\n')
  })
})
