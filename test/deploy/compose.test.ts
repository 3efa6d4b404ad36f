import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { expectedImage, unknownEnv } from './env-names.js'

interface Service {
  build?: string | { context: string }
  image?: string
  ports?: string[]
  environment?: Record<string, string>
  command?: string[]
  volumes?: string[]
  healthcheck?: { test: string[] }
  depends_on?: Record<string, { condition: string }>
  stop_grace_period?: string
}
const compose = parseYaml(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service>, volumes: Record<string, unknown> }
const { gateway, redis, prometheus, grafana } = compose.services

/** `./host/path:/container/path[:ro]` → the two paths. */
function bind (v: string): { host: string, container: string } {
  const [host, container] = v.split(':')
  return { host: host!, container: container! }
}
/** Compose's `${NAME:-default}` interpolation (from .env or the shell). */
const envRef = (name: string, fallback = ''): string => '$' + `{${name}:-${fallback}}`
const seconds = (d: string): number => Number(/^(\d+)s$/.exec(d)?.[1] ?? NaN)

describe('docker-compose.yml', () => {
  it('runs the gateway, Redis, Prometheus and Grafana, each with a healthcheck', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gateway', 'grafana', 'prometheus', 'redis'])
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.healthcheck?.test[0], name).toBe('CMD')
      expect(s.healthcheck!.test.length, name).toBeGreaterThan(1)
    }
    expect(gateway!.healthcheck!.test.join(' ')).toContain('http://127.0.0.1:8080/healthz')
    expect(redis!.healthcheck!.test).toEqual(['CMD', 'redis-cli', 'ping'])
    expect(prometheus!.healthcheck!.test.join(' ')).toContain('/-/healthy')
    expect(grafana!.healthcheck!.test.join(' ')).toContain('/api/health')
  })

  it('builds the gateway image from the repository and publishes port 8080', () => {
    const { name, tag } = expectedImage()
    expect(gateway!.build).toBe('.')
    expect(existsSync('Dockerfile')).toBe(true)
    expect(gateway!.image).toBe(`${name}:${tag}`)
    expect(gateway!.ports).toEqual([envRef('GATEWAY_PORT', '8080') + ':8080'])
    expect(gateway!.environment!.PORT).toBe('8080')
  })

  it('passes secrets from .env, points the gateway at the redis service and sets only known settings', () => {
    const env = gateway!.environment!
    expect(unknownEnv(Object.keys(env))).toEqual([])
    expect(env.UPSTREAM_API_KEY).toBe(envRef('UPSTREAM_API_KEY'))
    expect(env.ADMIN_KEY).toBe(envRef('ADMIN_KEY'))
    expect(env.REDIS_URL).toBe('redis://redis:6379')
    expect(env.DATA_DIR).toBe('/data')
    // No literal secret in the file: every secret-looking value is a ${...} reference.
    for (const [k, v] of Object.entries(env)) if (/KEY|TOKEN|PASSWORD/.test(k)) expect(v, k).toMatch(/^\$\{\w+:-\}$/)
    const example = readFileSync('deploy/env.example', 'utf8')
    for (const k of ['UPSTREAM_API_KEY', 'ADMIN_KEY']) expect(example).toMatch(new RegExp(`^${k}=$`, 'm'))
    expect(readFileSync('.gitignore', 'utf8').split('\n')).toContain('.env')
  })

  it('mounts the config file where GATEWAY_CONFIG points', () => {
    const mounts = new Map(gateway!.volumes!.map((v) => [bind(v).container, bind(v).host]))
    const file = mounts.get(gateway!.environment!.GATEWAY_CONFIG!)
    expect(file).toBe('./deploy/k8s/gateway.yaml')
    expect(loadConfig({ GATEWAY_CONFIG: file }).pricing).toHaveProperty(['gpt-5.2-chat-latest'])
  })

  it('lets the gateway drain its streams before Docker kills it', () => {
    const drainMs = Number(gateway!.environment!.DRAIN_TIMEOUT_MS ?? 30_000)
    expect(seconds(gateway!.stop_grace_period!) * 1000).toBeGreaterThan(drainMs)
  })

  it('keeps Redis append-only on a named volume and starts the gateway once Redis is healthy', () => {
    expect(redis!.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']))
    expect(redis!.volumes).toContain('redis-data:/data')
    expect(gateway!.depends_on).toEqual({ redis: { condition: 'service_healthy' } })
    expect(grafana!.depends_on).toEqual({ prometheus: { condition: 'service_healthy' } })
  })

  it('declares every named volume it mounts, and every bind-mounted file exists', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const { host } = bind(v)
        if (host.startsWith('.')) expect(existsSync(host), `${name}: ${host}`).toBe(true)
        else expect(Object.keys(compose.volumes), `${name}: ${host}`).toContain(host)
      }
    }
    expect(Object.keys(compose.volumes).sort()).toEqual(['gateway-data', 'grafana-data', 'prometheus-data', 'redis-data'])
  })

  it('wires Prometheus to the gateway and its alert rules, and Grafana to Prometheus and the dashboard', () => {
    const mounts = new Map(prometheus!.volumes!.map((v) => [bind(v).container, bind(v).host]))
    const configPath = /--config\.file=(\S+)/.exec(prometheus!.command!.join(' '))![1]!
    const prom = parseYaml(readFileSync(mounts.get(configPath)!, 'utf8')) as { rule_files: string[], scrape_configs: Array<{ job_name: string, metrics_path?: string, static_configs: Array<{ targets: string[] }> }> }
    for (const f of prom.rule_files) expect(mounts.get(f), f).toBe('./deploy/prometheus/alerts.yml')
    const job = prom.scrape_configs.find((j) => j.job_name === 'comet-gateway')!
    expect(job.metrics_path ?? '/metrics').toBe('/metrics')
    expect(job.static_configs[0]!.targets).toEqual(['gateway:8080'])

    const gmounts = new Map(grafana!.volumes!.map((v) => [bind(v).container, bind(v).host]))
    const provisioning = gmounts.get('/etc/grafana/provisioning')!
    const ds = parseYaml(readFileSync(`${provisioning}/datasources/prometheus.yml`, 'utf8')) as { datasources: Array<{ type: string, url: string, isDefault: boolean }> }
    expect(ds.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true })])
    const provider = parseYaml(readFileSync(`${provisioning}/dashboards/comet-gateway.yml`, 'utf8')) as { providers: Array<{ type: string, options: { path: string } }> }
    const dashboardDir = gmounts.get(provider.providers[0]!.options.path)!
    expect(existsSync(`${dashboardDir}/llm-cost.json`)).toBe(true)
    expect(grafana!.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(`${provider.providers[0]!.options.path}/llm-cost.json`)
  })

  it('publishes the Prometheus and Grafana UIs (key names and spend) on localhost only', () => {
    expect(prometheus!.ports![0]).toMatch(/^127\.0\.0\.1:/)
    expect(grafana!.ports![0]).toMatch(/^127\.0\.0\.1:/)
  })
})
