import { randomBytes } from 'node:crypto'
import { startMockUpstream } from './mock/upstream.js'
import { serve } from './main.js'

/**
 * `npm run demo`: the gateway in front of the bundled mock upstream, with a ready client
 * key, so a newcomer without a CometAPI key can point the openai SDK at it.
 */
async function demo (): Promise<void> {
  const mock = await startMockUpstream({ chunks: 12, chunkDelayMs: 40 })
  const key = process.env.DEMO_KEY ?? 'sk-demo-' + randomBytes(24).toString('base64url')
  const port = process.env.PORT ?? '8080'
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UPSTREAM_BASE_URL: mock.baseUrl,
    UPSTREAM_API_KEY: 'sk-mock-upstream',
    ADMIN_KEY: process.env.ADMIN_KEY ?? 'admin-' + randomBytes(16).toString('hex'),
    PORT: port,
    HOST: process.env.HOST ?? '127.0.0.1',
    DATA_DIR: process.env.DATA_DIR ?? './data/demo',
  }
  await serve(env, { demoKey: key })
  process.stdout.write([
    '',
    'comet-gateway demo is running in front of a mock upstream.',
    `  base URL:   http://127.0.0.1:${port}/v1`,
    `  client key: ${key}`,
    `  admin key:  ${env.ADMIN_KEY}`,
    '',
    '  import OpenAI from "openai"',
    `  const client = new OpenAI({ baseURL: "http://127.0.0.1:${port}/v1", apiKey: "${key}" })`,
    '  const r = await client.chat.completions.create({ model: "gpt-5.2-chat-latest", messages: [{ role: "user", content: "hi" }] })',
    ''
  ].join('\n') + '\n')
}

demo().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`)
  process.exit(1)
})
