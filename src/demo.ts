import { randomBytes } from 'node:crypto'
import { startMockUpstream } from './mock/upstream.js'
import { serve } from './main.js'

/**
 * `npm run demo`: the gateway in front of the bundled mock upstream, with a ready client
 * key and an admin key, so a newcomer without a CometAPI key can try every client feature
 * (streams, tool calls, structured outputs) and the CLI. The mock's answers are canned.
 */
async function demo (): Promise<void> {
  const mock = await startMockUpstream({ chunks: 11, chunkDelayMs: 40 })
  const key = process.env.DEMO_KEY ?? 'sk-demo-' + randomBytes(24).toString('base64url')
  const port = process.env.PORT ?? '8080'
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UPSTREAM_BASE_URL: mock.baseUrl,
    UPSTREAM_API_KEY: 'sk-mock-upstream',
    ADMIN_KEY: process.env.ADMIN_KEY ?? randomBytes(24).toString('hex'),
    PORT: port,
    HOST: process.env.HOST ?? '127.0.0.1',
    DATA_DIR: process.env.DATA_DIR ?? './data/demo',
  }
  await serve(env, { demoKey: key })
  process.stdout.write(banner(`http://127.0.0.1:${port}`, key, env.ADMIN_KEY!) + '\n')
}

/** What the demo prints: every line is a command or code a newcomer can paste as is. */
function banner (origin: string, key: string, adminKey: string): string {
  const base = `${origin}/v1`
  const chat = (stream: boolean): string => JSON.stringify({ model: 'gpt-5.2-chat-latest', messages: [{ role: 'user', content: 'Hello' }], ...(stream ? { stream: true } : {}) })
  return [
    '',
    'comet-gateway demo is running in front of a mock upstream (canned answers; streams,',
    'tool calls and structured outputs work as with the real one). Ctrl-C stops it.',
    '',
    `  base URL:   ${base}`,
    `  client key: ${key}`,
    `  admin key:  ${adminKey}`,
    '',
    'curl (a JSON answer, then a stream):',
    '',
    `  curl -s ${base}/chat/completions -H 'authorization: Bearer ${key}' -H 'content-type: application/json' -d '${chat(false)}'`,
    `  curl -sN ${base}/chat/completions -H 'authorization: Bearer ${key}' -H 'content-type: application/json' -d '${chat(true)}'`,
    '',
    'The openai SDK, streaming (run from this folder, where openai is installed):',
    '',
    "  node --input-type=module -e '",
    '  import OpenAI from "openai"',
    `  const client = new OpenAI({ baseURL: "${base}", apiKey: "${key}" })`,
    '  const stream = await client.chat.completions.create({ model: "gpt-5.2-chat-latest", messages: [{ role: "user", content: "Hello" }], stream: true })',
    '  for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "")',
    '  console.log()',
    "  '",
    '',
    'Keys of your own, with the CLI and the admin key (another terminal, this folder):',
    '',
    `  ADMIN_KEY=${adminKey} npx --no-install comet-gateway keys create --name alice --rpm 60 --budget-usd 5 --url ${origin}`,
    `  ADMIN_KEY=${adminKey} npx --no-install comet-gateway keys list --url ${origin}`,
    '',
    'More clients (Vercel AI SDK, LangChain, OpenAI Agents SDK, Python): docs/clients.md',
    ''
  ].join('\n')
}

demo().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`)
  process.exit(1)
})
