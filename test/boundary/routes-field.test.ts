import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyBody } from '../../src/cli/commands.js'
import { ADMIN_KEY, startGateway, tempDataDir, TEST_KEY, type TestGateway } from '../helpers/gateway.js'

const admin = async (gw: TestGateway, method: string, path: string, body?: unknown): Promise<{ status: number, json: Record<string, unknown> & { error?: { param: string | null } } }> => {
  const res = await fetch(`${gw.url}/admin${path}`, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, json: await res.json() as never }
}

describe('the routes field of keys', () => {
  const dataDir = tempDataDir()
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway({ DATA_DIR: dataDir, keys: [{ name: 'test', key: TEST_KEY }, { name: 'ft-bot', key: 'sk-ftbot-0123456789abcdefghijklmnopqrstuvwxyz', routes: ['/v1/fine_tuning/*', 'files*'] }] })
  })
  afterAll(async () => { await gw.close() })

  it('admin API: create with routes (normalised), read back, patch, reset to the default set with null', async () => {
    const created = await admin(gw, 'POST', '/keys', { name: 'evals', routes: ['/v1/evals*', 'chat/completions'] })
    expect(created.status).toBe(201)
    expect(created.json.routes).toEqual(['evals*', 'chat/completions'])
    const id = created.json.id as string
    expect((await admin(gw, 'GET', `/keys/${id}`)).json.routes).toEqual(['evals*', 'chat/completions'])
    expect((await admin(gw, 'PATCH', `/keys/${id}`, { routes: ['responses*'] })).json.routes).toEqual(['responses*'])
    expect((await admin(gw, 'PATCH', `/keys/${id}`, { rpm: 5 })).json.routes).toEqual(['responses*'])
    expect((await admin(gw, 'PATCH', `/keys/${id}`, { routes: null })).json.routes).toBeNull()
    expect((await admin(gw, 'POST', '/keys', { name: 'plain' })).json.routes).toBeNull()
  })

  it('admin API: a bad routes value is 400 naming routes', async () => {
    for (const routes of [[], ['a b'], 'chat/completions', [1]]) {
      const r = await admin(gw, 'POST', '/keys', { name: 'bad', routes })
      expect(r.status).toBe(400)
      expect(r.json.error?.param).toMatch(/^routes/)
    }
  })

  it('config-file keys carry routes', async () => {
    const { json } = await admin(gw, 'GET', '/keys')
    const bot = (json.data as Array<Record<string, unknown>>).find((k) => k.name === 'ft-bot')
    expect(bot?.routes).toEqual(['fine_tuning/*', 'files*'])
  })

  it('routes survive a restart of the embedded store', async () => {
    const created = await admin(gw, 'POST', '/keys', { name: 'durable', routes: ['embeddings'] })
    await gw.close()
    gw = await startGateway({ DATA_DIR: dataDir })
    expect((await admin(gw, 'GET', `/keys/${created.json.id as string}`)).json.routes).toEqual(['embeddings'])
  })

  it('CLI: --routes a,b (repeatable) and --routes default', () => {
    expect(keyBody({ routes: ['chat/completions,responses*', 'files*'] })).toEqual({ routes: ['chat/completions', 'responses*', 'files*'] })
    expect(keyBody({ routes: ['default'] })).toEqual({ routes: null })
    expect(keyBody({ name: 'x' })).toEqual({ name: 'x' })
  })
})
