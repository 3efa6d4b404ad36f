import { describe, expect, it } from 'vitest'
import { keyBody } from '../../src/cli/commands.js'
import { table } from '../../src/cli/table.js'
import { parseBody } from '../../src/auth/keys-routes.js'
import { applyPatch, buildRecord, generateSecret, keyPatchSchema, newKeySchema, STORED_SECRET } from '../../src/auth/key-store.js'
import { GatewayError } from '../../src/errors.js'

describe('key secrets', () => {
  it('are sk- plus 43 URL-safe characters, all different', () => {
    const secrets = new Set(Array.from({ length: 1000 }, generateSecret))
    expect(secrets.size).toBe(1000)
    for (const s of secrets) expect(s).toMatch(STORED_SECRET)
  })

  it('show only their first 8 characters in a record', () => {
    const secret = generateSecret()
    const r = buildRecord({ name: 'a', expires_at: '2027-01-01T01:00:00+01:00' }, secret)
    expect(r.key_prefix).toBe(secret.slice(0, 8))
    expect(JSON.stringify(r)).not.toContain(secret)
    expect(r.expires_at).toBe('2027-01-01T00:00:00.000Z')
  })
})

describe('patches', () => {
  const base = buildRecord({ name: 'a', rpm: 5, models: ['x'], metadata: { team: 't' } }, generateSecret())
  it('leave absent fields alone and clear null ones', () => {
    const next = applyPatch(base, { rpm: null, tpm: 7, budget_period: 'day' })
    expect(next).toMatchObject({ rpm: null, tpm: 7, budget_period: 'day', models: ['x'], metadata: { team: 't' }, name: 'a' })
    expect(applyPatch(base, { models: null, metadata: undefined }).models).toBeNull()
  })
})

describe('admin bodies', () => {
  const param = (schema: typeof newKeySchema | typeof keyPatchSchema, body: unknown): string | null => {
    try {
      parseBody(schema, body)
      return 'ok'
    } catch (err) {
      expect(err).toBeInstanceOf(GatewayError)
      expect((err as GatewayError).status).toBe(400)
      return (err as GatewayError).param
    }
  }
  it('name the field that is wrong', () => {
    expect(param(newKeySchema, { name: 'a' })).toBe('ok')
    expect(param(newKeySchema, { name: '' })).toBe('name')
    expect(param(newKeySchema, { name: 'a', tpm: 1.5 })).toBe('tpm')
    expect(param(newKeySchema, { name: 'a', models: ['ok', 3] })).toBe('models.1')
    expect(param(newKeySchema, { name: 'a', metadata: { team: 1 } })).toBe('metadata.team')
    expect(param(newKeySchema, { name: 'a', secret: 'x' })).toBe('secret')
    expect(param(keyPatchSchema, {})).toBe('ok')
    expect(param(keyPatchSchema, { max_concurrency: 0 })).toBe('max_concurrency')
    expect(param(keyPatchSchema, [])).toBeNull()
  })
})

describe('CLI flags', () => {
  it('become the admin API body, "none" clearing', () => {
    expect(keyBody({ name: 'a', rpm: '60', 'budget-usd': '12.5', models: ['gpt-5.2*,gpt-5-mini', 'o3'], metadata: ['team=search', 'owner=ana=b'] }))
      .toEqual({ name: 'a', rpm: 60, budget_usd: 12.5, models: ['gpt-5.2*', 'gpt-5-mini', 'o3'], metadata: { team: 'search', owner: 'ana=b' } })
    expect(keyBody({ tpm: 'none', models: ['none'], 'expires-at': 'none' })).toEqual({ tpm: null, models: null, expires_at: null })
  })

  it('refuse values that are not numbers', () => {
    expect(() => keyBody({ rpm: '6O' })).toThrow(/--rpm wants a whole number/)
    expect(() => keyBody({ rpm: '1.5' })).toThrow(/--rpm/)
    expect(() => keyBody({ metadata: ['team'] })).toThrow(/key=value/)
  })
})

describe('CLI tables', () => {
  it('align columns under their headers', () => {
    expect(table(['ID', 'NAME'], [['key_1', 'alice'], ['k', 'b']])).toBe('ID     NAME\nkey_1  alice\nk      b\n')
  })
})
