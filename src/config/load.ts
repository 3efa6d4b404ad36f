import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { configSchema, type GatewayConfig } from './schema.js'

/** A configuration problem: main.ts prints its one-line message and exits 1. */
export class GatewayConfigError extends Error {
  override name = 'GatewayConfigError'
}

const ENV_NAMES = Object.keys(configSchema.shape).filter((k) => k === k.toUpperCase())
const ENV_ALIASES: Record<string, string> = { COMETAPI_KEY: 'UPSTREAM_API_KEY' }

/** Picks the variables the schema knows from an environment; empty strings count as unset. */
function fromEnv (env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [alias, name] of Object.entries(ENV_ALIASES)) {
    const v = env[alias]
    if (v !== undefined && v !== '') out[name] = v
  }
  for (const name of ENV_NAMES) {
    const v = env[name]
    if (v !== undefined && v !== '') out[name] = v
  }
  return out
}

function readFile (path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new GatewayConfigError(`GATEWAY_CONFIG: cannot read ${path}: ${(err as Error).message}`)
  }
  let data: unknown
  try {
    data = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text)
  } catch (err) {
    throw new GatewayConfigError(`GATEWAY_CONFIG: ${path} is not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`)
  }
  if (data === null || data === undefined) return {}
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new GatewayConfigError(`GATEWAY_CONFIG: ${path} must hold an object`)
  }
  for (const k of Object.keys(data)) {
    if (k === k.toUpperCase()) throw new GatewayConfigError(`GATEWAY_CONFIG: ${k}: settings from the environment do not belong in the file`)
  }
  return data as Record<string, unknown>
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/**
 * Reads the environment and the optional config file (`GATEWAY_CONFIG`), validates both with
 * the one schema (environment wins), and returns the frozen result.
 * @throws GatewayConfigError with one line naming the setting and the problem.
 * @example const config = loadConfig(process.env)
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<string, unknown>> = {}): GatewayConfig {
  const file = env.GATEWAY_CONFIG ? readFile(env.GATEWAY_CONFIG) : {}
  const result = configSchema.safeParse({ ...file, ...fromEnv(env), ...overrides })
  if (!result.success) {
    const issue = result.error.issues[0]!
    const where = issue.path.length > 0 ? issue.path.join('.') : 'config'
    const what = issue.code === 'unrecognized_keys' ? `unknown setting ${issue.keys.join(', ')}` : issue.message
    throw new GatewayConfigError(`${where}: ${what}`)
  }
  return deepFreeze(resolveUpstreamKeys(result.data, env))
}

/**
 * Reads each upstream's `api_key_env` now, once, so a missing variable stops the start
 * with one line instead of failing requests later; names must be unique (metrics, headers).
 */
function resolveUpstreamKeys (config: GatewayConfig, env: NodeJS.ProcessEnv): GatewayConfig {
  if (config.upstreams.length === 0) return config
  const names = new Set<string>()
  const upstreams = config.upstreams.map((u, i) => {
    if (names.has(u.name)) throw new GatewayConfigError(`upstreams.${i}.name: ${u.name} names another upstream already`)
    names.add(u.name)
    if (u.api_key_env === undefined) {
      if (u.api_key === undefined) throw new GatewayConfigError(`upstreams.${i}: give its key as api_key_env (an environment variable) or api_key`)
      return u
    }
    if (u.api_key !== undefined) throw new GatewayConfigError(`upstreams.${i}: give api_key or api_key_env, not both`)
    const key = env[u.api_key_env]
    if (key === undefined || key === '') throw new GatewayConfigError(`upstreams.${i}.api_key_env: the environment variable ${u.api_key_env} is not set`)
    return { ...u, api_key: key }
  })
  return { ...config, upstreams }
}

/** Test and bench helper: a full config from a few overrides, with nothing read from the environment. */
export function configFrom (overrides: Partial<Record<string, unknown>> = {}): GatewayConfig {
  return loadConfig({}, overrides)
}
