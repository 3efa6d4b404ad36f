import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, startGateway, type TestGateway } from '../helpers/gateway.js'
import { HI, MODEL } from '../admin/admin-client.js'
import { buildCli, cli } from './cli-run.js'

describe('comet-gateway teams …, keys rotate, keys --team and audit against a running gateway', () => {
  let gw: TestGateway
  let env: Record<string, string>
  const run = async (...args: string[]) => await cli([...args, '--url', gw.url], env)
  beforeAll(async () => {
    buildCli()
    gw = await startGateway()
    env = { ADMIN_KEY }
  }, 240_000) // the build takes a while on a busy 2-core machine
  afterAll(async () => { await gw?.close() })

  it('creates, lists, shows, updates and deletes a team; keys join with --team and leave with --team none', async () => {
    const created = await run('teams', 'create', '--name', 'search', '--budget-usd', '500', '--rpm', '600', '--models', 'gpt-5.2*')
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    expect(created.stdout).toMatch(/budget_usd\s+500/)
    const teamId = /^id\s+(team_\S+)/m.exec(created.stdout)![1]!

    const list = await run('teams', 'list')
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+RPM/)
    expect(list.stdout).toMatch(new RegExp(`${teamId}\\s+search\\s+600\\s+-\\s+-\\s+\\$500/month\\s+gpt-5.2\\*`))

    const updated = JSON.parse((await run('teams', 'update', teamId, '--budget-period', 'day', '--rpm', 'none', '--json')).stdout)
    expect(updated).toMatchObject({ id: teamId, budget_period: 'day', rpm: null })
    expect((await run('teams', 'get', teamId)).stdout).toMatch(/budget_period\s+day/)

    const key = JSON.parse((await run('keys', 'create', '--name', 'search-bot', '--team', teamId, '--json')).stdout)
    expect(key.team_id).toBe(teamId)
    await gw.client(key.key).chat.completions.create({ model: MODEL, messages: HI })

    const busy = await run('teams', 'delete', teamId)
    expect(busy.code).toBe(1)
    expect(busy.stderr).toContain('409 team_not_empty')

    const left = JSON.parse((await run('keys', 'update', key.id, '--team', 'none', '--json')).stdout)
    expect(left.team_id).toBeNull()
    const deleted = await run('teams', 'delete', teamId)
    expect(deleted.code).toBe(0)
    expect(deleted.stdout).toBe(`deleted team ${teamId}\n`)
    expect((await run('teams', 'get', teamId)).stderr).toContain('404 not_found')
  })

  it('rotates a key with and without a grace period', async () => {
    const key = JSON.parse((await run('keys', 'create', '--name', 'rotor', '--json')).stdout)
    const now = await run('keys', 'rotate', key.id)
    expect(now.code).toBe(0)
    const secret = /key: (sk-\S+)/.exec(now.stdout)?.[1]
    expect(secret).toMatch(/^sk-[A-Za-z0-9_-]{43}$/)
    expect(now.stdout).toContain('the old key no longer works')
    expect(now.stdout).toMatch(new RegExp(`^id\\s+${key.id}$`, 'm'))
    await gw.client(secret).chat.completions.create({ model: MODEL, messages: HI })

    const later = JSON.parse((await run('keys', 'rotate', key.id, '--grace', '3600', '--json')).stdout)
    expect(later.id).toBe(key.id)
    expect(Date.parse(later.previous_key_expires_at) - Date.now()).toBeGreaterThan(3000 * 1000)
    await gw.client(secret).chat.completions.create({ model: MODEL, messages: HI })

    const tooLong = await run('keys', 'rotate', key.id, '--grace', '9999999')
    expect(tooLong.code).toBe(1)
    expect(tooLong.stderr).toContain('grace_seconds')
    expect((await run('keys', 'rotate', key.id, '--grace', 'soon')).code).toBe(2)
    expect((await run('keys', 'rotate')).stderr).toContain('keys rotate needs the key id')
  })

  it('shows usage by team and the audit log, with the CLI as the actor', async () => {
    const team = JSON.parse((await run('teams', 'create', '--name', 'ads', '--json')).stdout)
    const key = JSON.parse((await run('keys', 'create', '--name', 'ads-1', '--team', team.id, '--json')).stdout)
    await gw.client(key.key).chat.completions.create({ model: MODEL, messages: HI })
    const usage = JSON.parse((await run('usage', '--group-by', 'key', '--key', key.id, '--json')).stdout)
    expect(usage.data).toEqual([expect.objectContaining({ key_id: key.id, requests: 1, cost_usd: 0.006265 })])

    const audit = JSON.parse((await run('audit', '--target', key.id, '--json')).stdout)
    expect(audit.data).toEqual([expect.objectContaining({ action: 'key.create', actor: 'cli', target_id: key.id })])
    const text = await run('audit', '--action', 'team.create')
    expect(text.stdout.split('\n')[0]).toMatch(/^AT\s+ACTOR\s+ACTION\s+TARGET\s+CHANGES/)
    expect(text.stdout).toMatch(new RegExp(`cli\\s+team.create\\s+${team.id}\\s+.*name: null → "ads"`))
  })

  it('says what is wrong with a negative number instead of calling it ambiguous', async () => {
    const r = await run('keys', 'create', '--name', 'neg', '--budget-usd', '-3')
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('comet-gateway: --budget-usd must be 0 or more (or "none" to clear it), not -3\n')
    const rpm = await run('teams', 'create', '--name', 'neg', '--rpm', '-1')
    expect(rpm.stderr).toBe('comet-gateway: --rpm must be at least 1 (or "none" to clear it), not -1\n')
    expect((await run('teams', 'create', '--name', 'x', '--team', 'y')).stderr).toContain('teams create does not take --team')
    expect((await run('teams', 'frob')).code).toBe(2)
  })

  it('lists a config-file key with the time the gateway loaded it, not 1970', async () => {
    const keys = JSON.parse((await run('keys', 'list', '--json')).stdout)
    const fixed = keys.data.find((k: { name: string }) => k.name === 'test')
    expect(fixed.read_only).toBe(true)
    expect(Date.parse(fixed.created_at)).toBeGreaterThan(Date.now() - 3_600_000)
  })
})
