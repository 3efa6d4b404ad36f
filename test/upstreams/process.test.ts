import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { tempDataDir } from '../helpers/gateway.js'
import { ensureBuilt, spawnNode } from '../helpers/process.js'
import { freePort } from '../helpers/redis.js'

/** The `upstreams` section as a user writes it: YAML, keys named by environment variables. */
function yamlConfig (baseUrl: string, key: string): string {
  const path = join(tempDataDir(), 'gateway.yaml')
  writeFileSync(path, [
    'keys:',
    `  - { name: proc, key: ${key} }`,
    'upstreams:',
    '  - name: comet-a',
    `    base_url: ${baseUrl}`,
    '    api_key_env: COMETAPI_KEY_A',
    '    weight: 3',
    '    models: ["gpt-5.2*"]',
    ''
  ].join('\n'))
  return path
}

describe('the upstreams section in the gateway process', () => {
  let mock: MockUpstream
  beforeAll(async () => {
    ensureBuilt()
    mock = await startMockUpstream()
  })
  afterAll(async () => { await mock.close() })

  it('a missing api_key_env variable stops the start: exit 1, one line naming it', async () => {
    const p = spawnNode('dist/src/main.js', { PORT: String(await freePort()), DATA_DIR: tempDataDir(), GATEWAY_CONFIG: yamlConfig(mock.baseUrl, 'sk-proc-0123456789abcdefghijklmnopqrstuv') })
    expect(await p.exited).toBe(1)
    const err = p.stderr.join('')
    expect(err.trim().split('\n')).toHaveLength(1)
    expect(err).toContain('upstreams.0.api_key_env: the environment variable COMETAPI_KEY_A is not set')
  })

  it('reads the key from that variable and serves through the named upstream', async () => {
    const port = await freePort()
    const key = 'sk-proc-0123456789abcdefghijklmnopqrstuv'
    const p = spawnNode('dist/src/main.js', {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: tempDataDir(),
      COMETAPI_KEY_A: 'sk-upstream-a-secret',
      GATEWAY_CONFIG: yamlConfig(mock.baseUrl, key)
    })
    try {
      await p.waitForOutput(/comet-gateway listening/)
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: key, maxRetries: 0 })
      const { response } = await client.chat.completions.create({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'hi' }] }).withResponse()
      expect(response.headers.get('x-gateway-upstream')).toBe('comet-a')
      expect(mock.requests.at(-1)!.headers.authorization).toBe('Bearer sk-upstream-a-secret')
      const err = await client.chat.completions.create({ model: 'claude-x', messages: [] }).catch((e: unknown) => e)
      expect((err as { status: number }).status).toBe(404)
      // The upstream key is in no log line.
      expect(p.stdout.join('') + p.stderr.join('')).not.toContain('sk-upstream-a-secret')
    } finally {
      p.proc.kill('SIGTERM')
      await p.exited
    }
  })
})
