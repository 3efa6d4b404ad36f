import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { MissingVariable, renderCompose, renderers } from './compose-render.js'
import { expectedImage, unknownEnv } from './env-names.js'

interface Service {
  build?: string | { context: string }
  image?: string
  ports?: string[]
  environment?: Record<string, string>
  command?: string[]
  volumes?: string[]
  healthcheck?: { test: string[] }
  entrypoint?: string[]
  depends_on?: Record<string, { condition: string }>
  stop_grace_period?: string
}
const compose = parseYaml(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service>, volumes: Record<string, unknown> }
const { gateway, redis, prometheus, grafana, alertmanager } = compose.services

/** `./host/path:/container/path[:ro]` → the two paths. */
function bind (v: string): { host: string, container: string } {
  const [host, container] = v.split(':')
  return { host: host!, container: container! }
}
/** Compose's `${NAME:-default}` interpolation (from .env or the shell). */
const envRef = (name: string, fallback = ''): string => '$' + `{${name}:-${fallback}}`
/** Compose's `${NAME:?message}`: compose refuses to start while NAME is unset or empty. */
const REQUIRED = /^\$\{(\w+):\?[^}]+\}$/
const REQUIRED_ENV = ['ADMIN_KEY', 'METRICS_TOKEN', 'GRAFANA_ADMIN_PASSWORD']
const seconds = (d: string): number => Number(/^(\d+)s$/.exec(d)?.[1] ?? NaN)

describe('docker-compose.yml', () => {
  it('uses only top-level keys docker-compose v1 knows, and names the project in .env', () => {
    expect(Object.keys(compose).filter((k) => !['version', 'services', 'networks', 'volumes', 'secrets', 'configs'].includes(k) && !k.startsWith('x-'))).toEqual([])
    expect(readFileSync('deploy/env.example', 'utf8')).toMatch(/^COMPOSE_PROJECT_NAME=comet-gateway$/m)
  })

  it('runs the gateway, Redis, Prometheus, Alertmanager and Grafana, each with a healthcheck', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['alertmanager', 'gateway', 'grafana', 'prometheus', 'redis'])
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.healthcheck?.test[0], name).toBe('CMD')
      expect(s.healthcheck!.test.length, name).toBeGreaterThan(1)
    }
    expect(gateway!.healthcheck!.test.join(' ')).toContain('http://127.0.0.1:8080/healthz')
    expect(redis!.healthcheck!.test).toEqual(['CMD', 'redis-cli', 'ping'])
    expect(prometheus!.healthcheck!.test.join(' ')).toContain('/-/healthy')
    expect(grafana!.healthcheck!.test.join(' ')).toContain('/api/health')
    expect(alertmanager!.healthcheck!.test.join(' ')).toContain('/-/healthy')
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
    expect(env.ADMIN_KEY).toMatch(REQUIRED)
    expect(env.METRICS_TOKEN).toMatch(REQUIRED)
    expect(env.REDIS_URL).toBe('redis://redis:6379')
    expect(env.DATA_DIR).toBe('/data')
    // No literal secret and no default one in the file: every secret-looking value is a
    // ${...} reference, either required or empty by default.
    for (const s of Object.values(compose.services)) {
      for (const [k, v] of Object.entries(s.environment ?? {})) if (/KEY|TOKEN|PASSWORD/.test(k)) expect(v, k).toMatch(/^\$\{\w+(:-|:\?[^}]+)\}$/)
    }
    expect(grafana!.environment!.GF_SECURITY_ADMIN_PASSWORD).toMatch(REQUIRED)
    const example = readFileSync('deploy/env.example', 'utf8')
    for (const k of ['UPSTREAM_API_KEY', ...REQUIRED_ENV]) expect(example).toMatch(new RegExp(`^${k}=$`, 'm'))
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
    expect(Object.keys(compose.volumes).sort()).toEqual(['alertmanager-data', 'gateway-data', 'grafana-data', 'prometheus-data', 'redis-data'])
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

  it('publishes the Prometheus, Alertmanager and Grafana UIs (key names and spend) on localhost only', () => {
    for (const s of [prometheus, grafana, alertmanager]) expect(s!.ports![0]).toMatch(/^127\.0\.0\.1:/)
  })

  it('scrapes /metrics with METRICS_TOKEN: Prometheus writes it to the credentials file its scrape job reads', async () => {
    const prom = parseYaml(readFileSync('deploy/prometheus/prometheus.yml', 'utf8')) as { scrape_configs: Array<{ job_name: string, authorization?: { type: string, credentials_file: string } }> }
    const auth = prom.scrape_configs.find((j) => j.job_name === 'comet-gateway')!.authorization!
    expect(auth.type).toBe('Bearer')
    expect(prometheus!.environment!.METRICS_TOKEN).toBe(gateway!.environment!.METRICS_TOKEN)
    // Run the entrypoint's script with a shell, the file in a temp dir and `echo` for Prometheus.
    const [shell, flag, script, argv0] = prometheus!.entrypoint!
    expect([shell, flag, argv0]).toEqual(['/bin/sh', '-c', 'prometheus'])
    const file = join(mkdtempSync(join(tmpdir(), 'comet-prom-')), 'metrics-token')
    const local = script!.replaceAll('$$', '$').replaceAll(auth.credentials_file, file).replace('exec /bin/prometheus', 'exec echo')
    expect(local).not.toBe(script)
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile('sh', ['-c', local, argv0!, ...prometheus!.command!], { env: { PATH: process.env.PATH ?? '', METRICS_TOKEN: 'tok-0123456789' } }, (err, out) => err === null ? resolve(out) : reject(err))
    })
    expect(readFileSync(file, 'utf8')).toBe('tok-0123456789')
    expect(statSync(file).mode & 0o077).toBe(0)
    expect(stdout.trim()).toBe(prometheus!.command!.join(' '))
  })

  it('sends alerts to Alertmanager, which routes them to a documented receiver placeholder', () => {
    const prom = parseYaml(readFileSync('deploy/prometheus/prometheus.yml', 'utf8')) as { alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> } }
    expect(prom.alerting.alertmanagers[0]!.static_configs[0]!.targets).toEqual(['alertmanager:9093'])
    const mounts = new Map(alertmanager!.volumes!.map((v) => [bind(v).container, bind(v).host]))
    const configPath = /--config\.file=(\S+)/.exec(alertmanager!.command!.join(' '))![1]!
    const file = mounts.get(configPath)!
    expect(file).toBe('./deploy/alertmanager/alertmanager.yml')
    const text = readFileSync(file, 'utf8')
    const am = parseYaml(text) as { route: { receiver: string }, receivers: Array<Record<string, unknown> & { name: string }> }
    const receiver = am.receivers.find((r) => r.name === am.route.receiver)!
    expect(Object.keys(receiver).filter((k) => k.endsWith('_configs')).length).toBeGreaterThan(0)
    expect(text).toMatch(/RECEIVER PLACEHOLDER/)
    expect(readFileSync('docs/operations.md', 'utf8')).toContain('deploy/alertmanager/alertmanager.yml')
  })
})

const filled: Record<string, string> = { ADMIN_KEY: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6', METRICS_TOKEN: 'metrics-0123456789abcdef', GRAFANA_ADMIN_PASSWORD: 'grafana-0123456789', UPSTREAM_API_KEY: 'sk-comet-0123' }

describe.each(renderers())('docker-compose.yml rendered by %s', (by) => {
  it('refuses to render while ADMIN_KEY, METRICS_TOKEN or GRAFANA_ADMIN_PASSWORD is unset or empty, naming it', () => {
    for (const name of REQUIRED_ENV) {
      for (const value of [undefined, '']) {
        const env = { ...filled }
        if (value === undefined) delete env[name]
        else env[name] = value
        expect(() => renderCompose(by, env), name).toThrow(MissingVariable)
        expect(() => renderCompose(by, env), name).toThrow(name)
      }
    }
  })

  it('renders with .env filled in, and the gateway accepts the rendered settings (ADMIN_KEY validation included)', () => {
    const rendered = renderCompose(by, filled)
    expect(Object.keys(rendered.services).sort()).toEqual(['alertmanager', 'gateway', 'grafana', 'prometheus', 'redis'])
    const env = rendered.services.gateway!.environment!
    expect(env.ADMIN_KEY).toBe(filled.ADMIN_KEY)
    expect(env.METRICS_TOKEN).toBe(filled.METRICS_TOKEN)
    expect(rendered.services.grafana!.environment!.GF_SECURITY_ADMIN_PASSWORD).toBe(filled.GRAFANA_ADMIN_PASSWORD)
    const config = loadConfig({ ...env, GATEWAY_CONFIG: './deploy/k8s/gateway.yaml', DATA_DIR: undefined })
    expect(config.METRICS_TOKEN).toBe(filled.METRICS_TOKEN)
    // A placeholder admin key renders, but the gateway refuses to start with it.
    const placeholder = renderCompose(by, { ...filled, ADMIN_KEY: 'change-me-change-me-change-me' }).services.gateway!.environment!
    expect(() => loadConfig({ ...placeholder, GATEWAY_CONFIG: undefined })).toThrow(/^ADMIN_KEY: /)
  })
})
