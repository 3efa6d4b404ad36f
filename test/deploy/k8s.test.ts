import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { expectedImage, unknownEnv } from './env-names.js'
import { gatewayBecomesReady, type GatewayPod } from './k8s-ready.js'

const BASE = 'deploy/k8s'

interface Manifest { apiVersion: string, kind: string, metadata: { name: string, labels?: Record<string, string> }, spec?: any, data?: Record<string, string>, stringData?: Record<string, string> }
interface Kustomization { labels: Array<{ pairs: Record<string, string> }>, resources: string[], configMapGenerator: Array<{ name: string, files: string[] }>, images: Array<{ name: string, newName?: string, newTag: string }> }

const kustomization = parseYaml(readFileSync(`${BASE}/kustomization.yaml`, 'utf8')) as Kustomization

/**
 * The manifests as `kubectl kustomize` renders them (generated ConfigMap name, image tag
 * and labels applied), or as the listed resources plus the generated ConfigMap and the
 * common labels, assembled here the same way minus the name hash. Both are checked when
 * kubectl is installed, so the base stays valid for kustomize and readable as files.
 */
function render (by: 'kubectl' | 'files', dir = BASE): Manifest[] {
  if (by === 'kubectl') {
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    return parseAllDocuments(out).map((d) => d.toJS() as Manifest)
  }
  const manifests = kustomization.resources.flatMap((f) => parseAllDocuments(readFileSync(`${BASE}/${f}`, 'utf8')).map((d) => d.toJS() as Manifest))
  for (const g of kustomization.configMapGenerator) {
    manifests.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data: Object.fromEntries(g.files.map((f) => [f, readFileSync(`${BASE}/${f}`, 'utf8')])) })
  }
  const common = Object.assign({}, ...kustomization.labels.map((l) => l.pairs)) as Record<string, string>
  for (const m of manifests) m.metadata.labels = { ...common, ...m.metadata.labels }
  return manifests
}

function hasKubectl (): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' })
    return true
  } catch { return false }
}

describe.each(hasKubectl() ? ['kubectl', 'files'] as const : ['files'] as const)('the kustomize base (rendered by %s)', (by) => {
  const manifests = render(by)
  const one = (kind: string, name?: string): Manifest => {
    const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name))
    expect(found, kind).toHaveLength(1)
    return found[0]!
  }
  const service = (): Manifest => one('Service', 'comet-gateway')
  const deployment = one('Deployment')
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]
  const env = new Map<string, string>((container.env as Array<{ name: string, value: string }>).map((e) => [e.name, e.value]))

  it('holds a Deployment, Service, HPA, PDB, ConfigMap, Secret, ServiceMonitor, PrometheusRule and a Redis (StatefulSet + Service)', () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'PrometheusRule', 'Secret', 'Service', 'Service', 'ServiceMonitor', 'StatefulSet'])
    for (const m of manifests) expect(m.metadata.name, m.kind).toMatch(m.kind === 'StatefulSet' || m.metadata.name === 'comet-redis' ? /^comet-redis$/ : /^comet-gateway/)
  })

  it('runs the comet-gateway image of this version on port 8080', () => {
    const { name, tag } = expectedImage()
    expect(kustomization.images).toEqual([expect.objectContaining({ name, newTag: tag })])
    expect(container.image).toBe(by === 'kubectl' ? `${kustomization.images[0]!.newName ?? name}:${tag}` : name)
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }])
    expect(env.get('PORT')).toBe('8080')
  })

  it('probes /readyz for readiness and /healthz for liveness on the http port', () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' })
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' })
    expect(container.startupProbe.httpGet.path).toBe('/healthz')
  })

  it('gives the stream drain time: grace period > preStop sleep + DRAIN_TIMEOUT_MS, and rolls out without losing capacity', () => {
    const drainMs = Number(env.get('DRAIN_TIMEOUT_MS'))
    expect(drainMs).toBe(30_000)
    const preStop = container.lifecycle.preStop.exec.command as string[]
    expect(preStop[0]).toBe('sleep')
    const preStopMs = Number(preStop[1]) * 1000
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(preStopMs + drainMs + 5_000)
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0)
  })

  it('runs non-root on a read-only root filesystem, with an emptyDir for DATA_DIR', () => {
    expect(pod.securityContext).toEqual(expect.objectContaining({ runAsNonRoot: true, runAsUser: 10001 }))
    // The same uid as the Dockerfile's USER.
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(/^USER 10001:10001$/m)
    expect(container.securityContext).toEqual(expect.objectContaining({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }))
    const mounts = new Map<string, string>((container.volumeMounts as Array<{ name: string, mountPath: string }>).map((m) => [m.mountPath, m.name]))
    const volumes = new Map<string, any>((pod.volumes as Array<{ name: string }>).map((v) => [v.name, v]))
    const dataVolume = volumes.get(mounts.get(env.get('DATA_DIR')!)!)
    expect(dataVolume.emptyDir).toBeDefined()
  })

  it('sets resource requests and limits', () => {
    expect(container.resources.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }))
    expect(container.resources.limits).toEqual(expect.objectContaining({ memory: expect.any(String) }))
  })

  it('mounts the ConfigMap\'s config file where GATEWAY_CONFIG points, and the gateway accepts that file', () => {
    const configMap = one('ConfigMap')
    const path = env.get('GATEWAY_CONFIG')!
    const mount = (container.volumeMounts as Array<{ name: string, mountPath: string }>).find((m) => path.startsWith(m.mountPath + '/'))!
    const volume = (pod.volumes as Array<{ name: string, configMap?: { name: string } }>).find((v) => v.name === mount.name)!
    expect(volume.configMap?.name).toBe(configMap.metadata.name)
    const file = path.slice(mount.mountPath.length + 1)
    const content = configMap.data![file]!
    expect(content).toBeDefined()
    if (by === 'kubectl') expect(configMap.metadata.name).toMatch(/^comet-gateway-config-[a-z0-9]{10}$/)
    const dir = mkdtempSync(join(tmpdir(), 'comet-k8s-'))
    writeFileSync(join(dir, file), content)
    const config = loadConfig({ GATEWAY_CONFIG: join(dir, file) })
    // Prices are normalised at load to exact nano-dollars per 1M tokens.
    expect(config.pricing['gpt-5.2-chat-latest']).toMatchObject({ input: 1_400_000_000n, cachedInput: 175_000_000n, output: 11_200_000_000n })
    expect(config.aliases['gpt-5.2']).toBe('gpt-5.2-chat-latest')
  })

  it('takes UPSTREAM_API_KEY, ADMIN_KEY, METRICS_TOKEN and the Redis address from a Secret holding placeholders only', () => {
    const secret = one('Secret')
    expect(container.envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }])
    const data = secret.stringData!
    expect(Object.keys(data).sort()).toEqual(['ADMIN_KEY', 'METRICS_TOKEN', 'REDIS_URL', 'UPSTREAM_API_KEY'])
    for (const k of ['ADMIN_KEY', 'METRICS_TOKEN', 'UPSTREAM_API_KEY']) expect(data[k], k).toMatch(/^REPLACE_WITH_/)
    expect(data.REDIS_URL).toMatch(/^redis:\/\//)
    expect(unknownEnv([...env.keys(), ...Object.keys(data)])).toEqual([])
    // The placeholder admin key stops the gateway, naming ADMIN_KEY...
    expect(() => loadConfig({ ...data, ...Object.fromEntries(env), GATEWAY_CONFIG: undefined })).toThrow(/^ADMIN_KEY: /)
    // ...and once replaced, the schema accepts the Secret's other values (e.g. the Redis URL's scheme).
    expect(() => loadConfig({ ...data, ...Object.fromEntries(env), ADMIN_KEY: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4', GATEWAY_CONFIG: undefined })).not.toThrow()
  })

  it('ships the Redis the Secret points at: the URL names its Service and port, which select its pods (and no gateway pod)', () => {
    const url = new URL(one('Secret').stringData!.REDIS_URL!)
    const redisService = one('Service', url.hostname)
    const statefulSet = one('StatefulSet')
    expect(statefulSet.spec.serviceName).toBe(redisService.metadata.name)
    expect(statefulSet.spec.replicas).toBe(1)
    const port = (redisService.spec.ports as Array<{ port: number, targetPort: string }>).find((p) => p.port === Number(url.port))!
    const redisPod = statefulSet.spec.template
    const redis = redisPod.spec.containers[0]
    expect((redis.ports as Array<{ name: string, containerPort: number }>).find((p) => p.name === port.targetPort)?.containerPort).toBe(6379)
    const selects = (sel: Record<string, string>, labels: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => labels[k] === v)
    expect(selects(redisService.spec.selector, redisPod.metadata.labels)).toBe(true)
    expect(selects(statefulSet.spec.selector.matchLabels, redisPod.metadata.labels)).toBe(true)
    expect(selects(redisService.spec.selector, deployment.spec.template.metadata.labels)).toBe(false)
    expect(selects(service().spec.selector, redisPod.metadata.labels)).toBe(false)
    expect(selects(one('PodDisruptionBudget').spec.selector.matchLabels, redisPod.metadata.labels)).toBe(false)
    expect(redis.readinessProbe.exec.command).toEqual(['redis-cli', 'ping'])
    expect(redis.args).toEqual(expect.arrayContaining(['--appendonly', 'yes']))
    const dir = redis.args[redis.args.indexOf('--dir') + 1]
    const mount = (redis.volumeMounts as Array<{ name: string, mountPath: string }>).find((m) => m.mountPath === dir)!
    expect(statefulSet.spec.volumeClaimTemplates.map((c: Manifest) => c.metadata.name)).toContain(mount.name)
    expect(redisPod.spec.securityContext).toEqual(expect.objectContaining({ runAsNonRoot: true }))
    expect(redis.securityContext).toEqual(expect.objectContaining({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false }))
  })

  it('becomes ready: a gateway with the pod\'s environment and the Secret\'s values answers /readyz 200 once the shipped Redis runs', async () => {
    const statefulSet = one('StatefulSet')
    const configMap = one('ConfigMap')
    const pod: GatewayPod = {
      env: Object.fromEntries(env),
      secret: { ...one('Secret').stringData!, ADMIN_KEY: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4', METRICS_TOKEN: 'metrics-0123456789' },
      configFile: configMap.data![Object.keys(configMap.data!)[0]!]!,
      redisArgs: statefulSet.spec.template.spec.containers[0].args,
      readinessPath: container.readinessProbe.httpGet.path
    }
    const { before, after } = await gatewayBecomesReady(pod)
    expect(before === undefined || before === 503).toBe(true)
    expect(after).toBe(200)
  }, 60_000)

  it('selects the pods from the Service, PDB and ServiceMonitor, scales the Deployment with the HPA', () => {
    const podLabels = deployment.spec.template.metadata.labels as Record<string, string>
    const matches = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => podLabels[k] === v)
    expect(matches(deployment.spec.selector.matchLabels)).toBe(true)
    expect(matches(service().spec.selector)).toBe(true)
    expect(service().spec.ports).toEqual([expect.objectContaining({ name: 'http', port: 8080, targetPort: 'http' })])
    expect(matches(one('PodDisruptionBudget').spec.selector.matchLabels)).toBe(true)
    const hpa = one('HorizontalPodAutoscaler')
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name })
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2)
    expect(deployment.spec.replicas).toBeUndefined()
    expect(one('PodDisruptionBudget').spec.minAvailable).toBeLessThan(hpa.spec.minReplicas)
    const monitor = one('ServiceMonitor')
    const serviceLabels = service().metadata.labels ?? {}
    expect(Object.entries(monitor.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => serviceLabels[k] === v)).toBe(true)
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })])
    // /metrics wants METRICS_TOKEN: the ServiceMonitor sends the Secret's.
    expect(monitor.spec.endpoints[0].authorization.credentials).toEqual({ name: one('Secret').metadata.name, key: 'METRICS_TOKEN' })
  })

  it('alerts with the same rules as deploy/prometheus/alerts.yml (PrometheusRule)', () => {
    const alerts = parseYaml(readFileSync('deploy/prometheus/alerts.yml', 'utf8')) as { groups: unknown[] }
    expect(one('PrometheusRule').spec.groups).toEqual(alerts.groups)
  })
})

describe.each(hasKubectl() ? ['kubectl'] as const : [])('an overlay as docs/operations.md shows it (rendered by %s)', () => {
  it('replaces the Secret\'s placeholders, and the gateway accepts the result', () => {
    const dir = mkdtempSync(join(tmpdir(), 'comet-overlay-'))
    const doc = readFileSync('docs/operations.md', 'utf8')
    const overlay = /```yaml\n(# my-overlay\/kustomization\.yaml[\s\S]*?)```/.exec(doc)![1]!
      .replace('[../deploy/k8s]', `[${relative(dir, BASE)}]`)
      .replace('UPSTREAM_API_KEY=sk-...', 'UPSTREAM_API_KEY=sk-comet-0123')
      .replace(/ADMIN_KEY=\.\.\./, 'ADMIN_KEY=a1b2c3d4e5f6a7b8c9d0e1f2a3b4')
      .replace(/METRICS_TOKEN=\.\.\./, 'METRICS_TOKEN=metrics-0123456789')
    writeFileSync(join(dir, 'kustomization.yaml'), overlay)
    const manifests = render('kubectl', dir)
    const secret = manifests.find((m) => m.kind === 'Secret')!
    const data = Object.fromEntries(Object.entries(secret.data!).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
    expect(secret.metadata.name).toBe('comet-gateway')
    expect(data.ADMIN_KEY).toBe('a1b2c3d4e5f6a7b8c9d0e1f2a3b4')
    expect(data.REDIS_URL).toBe('redis://comet-redis:6379')
    expect(() => loadConfig({ ...data, GATEWAY_CONFIG: undefined })).not.toThrow()
    expect(manifests.every((m) => (m.metadata as { namespace?: string }).namespace === 'llm')).toBe(true)
  })
})
