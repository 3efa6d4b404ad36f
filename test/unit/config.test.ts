import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig, GatewayConfigError } from '../../src/config/load.js'

function fileWith (name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'cfg-')), name)
  writeFileSync(path, text)
  return path
}

describe('loadConfig', () => {
  it('gives the documented defaults', () => {
    const c = loadConfig({})
    expect(c.PORT).toBe(8080)
    expect(c.HOST).toBe('0.0.0.0')
    expect(c.UPSTREAM_BASE_URL).toBe('https://api.cometapi.com/v1')
    expect(c.MAX_BODY_BYTES).toBe(33554432)
    expect(c.UPSTREAM_TIMEOUT_MS).toBe(600000)
    expect(c.CACHE_TTL_SECONDS).toBe(0)
    expect(c.LIMITS_FAIL_MODE).toBe('open')
    expect(c.DRAIN_TIMEOUT_MS).toBe(30000)
    expect(c.DATA_DIR).toBe('./data')
    expect(Object.isFrozen(c)).toBe(true)
  })

  it('reads COMETAPI_KEY as UPSTREAM_API_KEY', () => {
    expect(loadConfig({ COMETAPI_KEY: 'sk-comet' }).UPSTREAM_API_KEY).toBe('sk-comet')
  })

  it.each([
    [{ PORT: 'eighty' }, /^PORT: /],
    [{ PORT: '70000' }, /^PORT: /],
    [{ UPSTREAM_BASE_URL: 'ftp://x' }, /^UPSTREAM_BASE_URL: /],
    [{ REDIS_URL: 'http://x' }, /^REDIS_URL: must start with redis/],
    [{ LIMITS_FAIL_MODE: 'maybe' }, /^LIMITS_FAIL_MODE: /],
    [{ REDIS_CLUSTER_NODES: 'a:1,b' }, /^REDIS_CLUSTER_NODES: /]
  ])('names the bad setting in one line: %o', (env, message) => {
    expect(() => loadConfig(env)).toThrowError(GatewayConfigError)
    try { loadConfig(env) } catch (err) {
      expect((err as Error).message).toMatch(message)
      expect((err as Error).message).not.toContain('\n')
    }
  })

  it('reads a YAML or JSON file, and the environment wins', () => {
    const yaml = fileWith('gw.yaml', 'pricing:\n  my-model: { input: 1, cached_input: 0.5, output: 2 }\naliases:\n  fast: my-model\nkeys:\n  - name: ci\n    key: sk-ci-0123456789abcdef\n    rpm: 60\n')
    const c = loadConfig({ GATEWAY_CONFIG: yaml, PORT: '9000' })
    // Prices come out in exact nano-dollars per 1M tokens.
    expect(c.pricing['my-model']).toEqual({ input: 1_000_000_000n, cachedInput: 500_000_000n, output: 2_000_000_000n })
    expect(c.aliases.fast).toBe('my-model')
    expect(c.keys[0]!.rpm).toBe(60)
    expect(c.PORT).toBe(9000)
    const json = fileWith('gw.json', JSON.stringify({ pricing: { m: { input: 1, output: 2 } } }))
    expect(loadConfig({ GATEWAY_CONFIG: json }).pricing.m!.output).toBe(2_000_000_000n)
  })

  it('rejects unknown sections and bad file values with the path', () => {
    expect(() => loadConfig({ GATEWAY_CONFIG: fileWith('a.json', '{"routing":{}}') })).toThrowError(/unknown setting routing/)
    expect(() => loadConfig({ GATEWAY_CONFIG: fileWith('b.json', '{"pricing":{"m":{"input":-1,"output":1}}}') })).toThrowError(/^pricing\.m\.input: /)
    expect(() => loadConfig({ GATEWAY_CONFIG: fileWith('c.json', '{"keys":[{"name":"x"}]}') })).toThrowError(/keys\.0: give exactly one of key or key_sha256/)
    expect(() => loadConfig({ GATEWAY_CONFIG: fileWith('d.yaml', 'pricing: [') })).toThrowError(/not valid YAML/)
    expect(() => loadConfig({ GATEWAY_CONFIG: '/nonexistent/x.json' })).toThrowError(/cannot read/)
  })
})
