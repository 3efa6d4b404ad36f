import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { tempDataDir } from '../helpers/gateway.js'
import { ensureBuilt, spawnNode } from '../helpers/process.js'
import { freePort } from '../helpers/redis.js'

describe('the gateway process', () => {
  let mock: MockUpstream
  beforeAll(async () => {
    ensureBuilt()
    mock = await startMockUpstream({ chunks: 10, chunkDelayMs: 100 })
  })
  afterAll(async () => { await mock.close() })

  it('exits 1 with one line naming a bad setting', async () => {
    const p = spawnNode('dist/src/main.js', { PORT: 'not-a-port' })
    expect(await p.exited).toBe(1)
    const err = p.stderr.join('')
    expect(err.trim().split('\n')).toHaveLength(1)
    expect(err).toMatch(/PORT: /)
  })

  it('drains an open stream on SIGTERM, refuses new connections, then exits 0', async () => {
    const port = await freePort()
    const key = 'sk-proc-0123456789abcdefghijklmnopqrstuv'
    const p = spawnNode('dist/src/main.js', {
      PORT: String(port),
      HOST: '127.0.0.1',
      UPSTREAM_BASE_URL: mock.baseUrl,
      UPSTREAM_API_KEY: 'sk-upstream-proc-secret',
      DATA_DIR: tempDataDir(),
      DRAIN_TIMEOUT_MS: '20000',
      GATEWAY_CONFIG: await writeConfig({ keys: [{ name: 'proc', key }] })
    })
    await p.waitForOutput(/comet-gateway listening/)
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: key, maxRetries: 0 })
    const stream = await client.chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }], stream: true })
    const it = stream[Symbol.asyncIterator]()
    const first = await it.next()
    expect(first.done).toBe(false)
    p.proc.kill('SIGTERM')
    await p.waitForOutput(/draining/)
    let text = first.value.choices[0]?.delta.content ?? ''
    for (let r = await it.next(); r.done !== true; r = await it.next()) text += r.value.choices[0]?.delta.content ?? ''
    expect(text).toBe('Hello from the mock upstream, streamed token by token')
    expect(await p.exited).toBe(0)
    const refused = await fetch(`http://127.0.0.1:${port}/healthz`).catch((e: Error) => e)
    expect(refused).toBeInstanceOf(Error)
    const logs = p.stdout.join('')
    expect(logs).not.toContain(key)
    expect(logs).not.toContain('sk-upstream-proc-secret')
  })

  it('npm run demo prints a base URL and a key that work with the SDK', async () => {
    const port = await freePort()
    const p = spawnNode('dist/src/demo.js', { PORT: String(port), DATA_DIR: tempDataDir() })
    try {
      const key = (await p.waitForOutput(/client key: (sk-\S+)/)).split('client key: ')[1]!
      expect(p.stdout.join('')).toContain(`http://127.0.0.1:${port}/v1`)
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: key, maxRetries: 0 })
      const r = await client.chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] })
      expect(r.choices[0]!.message.content).toContain('Hello from the mock upstream')
    } finally {
      p.proc.kill('SIGTERM')
      await p.exited
    }
  })
})

async function writeConfig (data: unknown): Promise<string> {
  const { writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const path = join(tempDataDir(), 'gateway.json')
  writeFileSync(path, JSON.stringify(data))
  return path
}
