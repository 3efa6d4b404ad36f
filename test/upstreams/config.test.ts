import { describe, expect, it } from 'vitest'
import { configFrom, GatewayConfigError, loadConfig } from '../../src/config/load.js'
import { upstreamSpecs } from '../../src/upstreams/config.js'

describe('upstreams config', () => {
  it('without an upstreams section: one upstream named default from UPSTREAM_BASE_URL and UPSTREAM_API_KEY', () => {
    const config = configFrom({ UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1', UPSTREAM_API_KEY: 'sk-up' })
    expect(upstreamSpecs(config)).toEqual([{ name: 'default', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-up', weight: 1, models: null }])
  })

  it('reads each api_key_env from the environment at start-up', () => {
    const config = loadConfig({ KEY_A: 'sk-a' }, {
      upstreams: [
        { name: 'a', base_url: 'http://127.0.0.1:1/v1', api_key_env: 'KEY_A', weight: 3, models: ['gpt-5.2*'] },
        { name: 'b', base_url: 'http://127.0.0.1:2/v1', api_key: 'sk-b' }
      ]
    })
    expect(upstreamSpecs(config)).toEqual([
      { name: 'a', baseUrl: 'http://127.0.0.1:1/v1', apiKey: 'sk-a', weight: 3, models: ['gpt-5.2*'] },
      { name: 'b', baseUrl: 'http://127.0.0.1:2/v1', apiKey: 'sk-b', weight: 1, models: null }
    ])
  })

  it('a missing api_key_env variable stops the start with one line naming it', () => {
    const load = () => loadConfig({}, { upstreams: [{ name: 'a', base_url: 'http://127.0.0.1:1/v1', api_key_env: 'COMETAPI_KEY_A' }] })
    expect(load).toThrow(GatewayConfigError)
    expect(load).toThrow('upstreams.0.api_key_env: the environment variable COMETAPI_KEY_A is not set')
  })

  it('an upstream of the file needs a key', () => {
    expect(() => configFrom({ upstreams: [{ name: 'a', base_url: 'http://127.0.0.1:1/v1' }] })).toThrow('upstreams.0: give its key as api_key_env (an environment variable) or api_key')
  })

  it('refuses two upstreams with one name, both key forms at once, bad weights and names', () => {
    const u = { base_url: 'http://127.0.0.1:1/v1', api_key: 'sk-x' }
    expect(() => configFrom({ upstreams: [{ name: 'a', ...u }, { name: 'a', ...u }] })).toThrow('upstreams.1.name: a names another upstream already')
    expect(() => loadConfig({ K: 'x' }, { upstreams: [{ name: 'a', ...u, api_key_env: 'K' }] })).toThrow('upstreams.0: give api_key or api_key_env, not both')
    expect(() => configFrom({ upstreams: [{ name: 'a', ...u, weight: 0 }] })).toThrow(/^upstreams\.0\.weight:/)
    expect(() => configFrom({ upstreams: [{ name: 'a b', ...u }] })).toThrow(/^upstreams\.0\.name:/)
    expect(() => configFrom({ upstreams: [{ name: 'a', base_url: 'ftp://x', api_key: 'sk-x' }] })).toThrow(/^upstreams\.0\.base_url:/)
  })
})
