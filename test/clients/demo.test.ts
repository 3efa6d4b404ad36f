import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { statSync } from 'node:fs'
import { buildCli, CLI } from '../cli/cli-run.js'
import { tempDataDir } from '../helpers/gateway.js'
import { spawnNode, type Spawned } from '../helpers/process.js'
import { freePort } from '../helpers/redis.js'
import { run } from './snippets.js'

/** `npm run demo` as a newcomer meets it: every command it prints is pasted into a shell. */
describe('npm run demo', () => {
  let demo: Spawned
  let banner: string
  let origin: string
  beforeAll(async () => {
    buildCli()
    // The CLI's bin must be executable for npx; `npm run build` (and so `npm ci`) makes it so.
    if ((statSync(CLI).mode & 0o111) === 0) await run('npm', ['run', 'build'], {})
    const port = await freePort()
    origin = `http://127.0.0.1:${port}`
    demo = spawnNode('dist/src/demo.js', { PORT: String(port), DATA_DIR: tempDataDir(), LOG_LEVEL: 'warn' })
    await demo.waitForOutput(/docs\/clients\.md/)
    banner = demo.stdout.join('')
  }, 240_000)
  afterAll(async () => {
    demo?.proc.kill('SIGTERM')
    await demo?.exited
  })

  const commands = (prefix: string): string[] => banner.split('\n').filter((l) => l.startsWith(`  ${prefix}`)).map((l) => l.trim())

  it('prints the base URL, a client key and an admin key that start-up validation accepts', () => {
    expect(banner).toContain(`  base URL:   ${origin}/v1\n`)
    expect(banner).toMatch(/ {2}client key: sk-\S{30,}\n/)
    expect(banner).toMatch(/ {2}admin key: {2}[0-9a-f]{48}\n/)
  })

  it('prints curl commands that work: a JSON answer and a stream', async () => {
    const [json, stream] = commands('curl ')
    const a = await run('bash', ['-c', json!], {})
    expect(JSON.parse(a.stdout).choices[0].message.content).toBe('Hello from the mock upstream, streamed token by token.')
    const b = await run('bash', ['-c', stream!], {})
    expect(b.stdout).toContain('"delta":{"content":" streamed"}')
    expect(b.stdout.trimEnd().endsWith('data: [DONE]')).toBe(true)
  }, 300_000)

  it('prints a streaming openai SDK example that runs from the repository folder', async () => {
    const lines = banner.split('\n')
    const start = lines.findIndex((l) => l.startsWith('  node --input-type=module'))
    const end = lines.findIndex((l, i) => i > start && l === "  '")
    const script = lines.slice(start, end + 1).map((l) => l.slice(2)).join('\n')
    const r = await run('bash', ['-c', script], {})
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('Hello from the mock upstream, streamed token by token.\n')
  }, 300_000)

  it('prints CLI commands with the admin key that create and list a key', async () => {
    const [create, list] = commands('ADMIN_KEY=')
    const created = await run('bash', ['-c', create!], {})
    expect(created.code).toBe(0)
    expect(created.stdout).toMatch(/key: sk-\S+/)
    const listed = await run('bash', ['-c', list!], {})
    expect(listed.code).toBe(0)
    expect(listed.stdout).toMatch(/alice .* \$5\/month/)
  }, 300_000)
})
