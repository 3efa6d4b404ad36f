import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { ADMIN_KEY, startGateway, type TestGateway } from '../helpers/gateway.js'
import { freePort } from '../helpers/redis.js'
import { HI, MODEL } from '../admin/admin-client.js'
import { buildCli, cli, CLI } from './cli-run.js'

describe('comet-gateway keys … against a running gateway', () => {
  let gw: TestGateway
  let env: Record<string, string>
  beforeAll(async () => {
    buildCli()
    gw = await startGateway()
    env = { ADMIN_KEY }
  }, 240_000) // the build takes a while on a busy 2-core machine
  afterAll(async () => { await gw?.close() })

  it('prints help and exits 0', async () => {
    const r = await cli(['--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('comet-gateway keys create --name NAME')
    expect(r.stdout).toContain('--json')
  })

  it('creates, lists, shows, updates and revokes a key', async () => {
    const created = await cli(['keys', 'create', '--name', 'alice', '--rpm', '60', '--models', 'gpt-5.2*', '--metadata', 'team=search', '--url', gw.url], env)
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    const secret = /key: (sk-\S+)/.exec(created.stdout)?.[1]
    expect(secret).toMatch(/^sk-[A-Za-z0-9_-]{43}$/)
    expect(created.stdout).toMatch(/rpm\s+60/)
    expect(created.stdout).toMatch(/metadata\s+team=search/)
    const id = /^id\s+(\S+)/m.exec(created.stdout)![1]!
    await gw.client(secret).chat.completions.create({ model: MODEL, messages: HI })

    const list = await cli(['keys', 'list', '--url', gw.url], env)
    expect(list.code).toBe(0)
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+PREFIX\s+RPM/)
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+alice\\s+${secret!.slice(0, 8)}\\s+60`))
    expect(list.stdout).toMatch(/test\s+.*active \(config\)/)
    expect(list.stdout).not.toContain(secret)

    const listJson = JSON.parse((await cli(['keys', 'list', '--json', '--url', gw.url], env)).stdout)
    expect(listJson.data.map((k: { name: string }) => k.name)).toEqual(['test', 'alice'])

    const updated = await cli(['keys', 'update', id, '--rpm', 'none', '--tpm', '5000', '--url', gw.url, '--json'], env)
    expect(updated.code).toBe(0)
    expect(JSON.parse(updated.stdout)).toMatchObject({ id, rpm: null, tpm: 5000 })

    const got = await cli(['keys', 'get', id, '--url', gw.url], env)
    expect(got.stdout).toMatch(/tpm\s+5000/)
    expect(got.stdout).toMatch(/status\s+active/)

    const revoked = await cli(['keys', 'revoke', id, '--url', gw.url], env)
    expect(revoked.code).toBe(0)
    expect(revoked.stdout).toMatch(/status\s+revoked/)
    const err = await gw.client(secret).chat.completions.create({ model: MODEL, messages: HI }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
  })

  it('reaches the gateway at http://127.0.0.1:$PORT by default', async () => {
    const r = await cli(['keys', 'create', '--name', 'bob', '--json'], { ADMIN_KEY, PORT: new URL(gw.url).port })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'bob', key: expect.stringMatching(/^sk-/) })
  })

  it('exits non-zero with the reason on errors', async () => {
    const missing = await cli(['keys', 'get', 'key_nope', '--url', gw.url], env)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe('comet-gateway: 404 not_found: No key with id key_nope.\n')

    const bad = await cli(['keys', 'create', '--name', 'carl', '--budget-period', 'week', '--url', gw.url], env)
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('budget_period')

    const taken = await cli(['keys', 'create', '--name', 'bob', '--url', gw.url], env)
    expect(taken.code).toBe(1)
    expect(taken.stderr).toContain('409')

    const wrongAdmin = await cli(['keys', 'list', '--url', gw.url, '--admin-key', 'admin-wrong-0000000000'])
    expect(wrongAdmin.code).toBe(1)
    expect(wrongAdmin.stderr).toContain('401')

    const noAdmin = await cli(['keys', 'list', '--url', gw.url])
    expect(noAdmin.code).toBe(2)
    expect(noAdmin.stderr).toContain('ADMIN_KEY')

    const down = await cli(['keys', 'list', '--url', `http://127.0.0.1:${await freePort()}`], env)
    expect(down.code).toBe(1)
    expect(down.stderr).toContain('connection refused')

    for (const args of [['keys', 'create', '--rpm', '5'], ['keys', 'create', '--name', 'x', '--rpm', 'lots'], ['keys', 'list', '--rpm', '5'], ['keys', 'revoke'], ['keys', 'frob'], ['frob'], ['keys', 'list', '--nope']]) {
      const r = await cli([...args, '--url', gw.url], env)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toMatch(/^comet-gateway: /)
    }
  })

  it('stops quietly with exit 0 when its reader closes the pipe early (| head)', async () => {
    // Enough keys that the JSON list outgrows a pipe's buffer.
    for (let i = 0; i < 300; i++) {
      const res = await fetch(`${gw.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: `pipe-${i}`, metadata: { note: 'x'.repeat(200) } }) })
      expect(res.status).toBe(201)
    }
    const child = spawn(process.execPath, [CLI, 'keys', 'list', '--json', '--url', gw.url], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    // Like `head -c 100`: read one chunk, then close the read end.
    child.stdout.once('data', () => { child.stdout.destroy() })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(stderr).toBe('')
    expect(code).toBe(0)
  })
})
