import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { unknownEnv } from './env-names.js'

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions (text: string): Array<{ op: string, args: string }> {
  return text.replace(/\\\n/g, ' ').split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => { const [op, ...rest] = l.split(/\s+/); return { op: op!.toUpperCase(), args: rest.join(' ') } })
}

describe('the Dockerfile', () => {
  const text = readFileSync('Dockerfile', 'utf8')
  const ins = instructions(text)
  const stages = ins.filter((i) => i.op === 'FROM')
  const runtimeStart = ins.lastIndexOf(stages.at(-1)!)
  const runtime = ins.slice(runtimeStart)

  it('is multi-stage on node:20-slim and builds the native addon in a build stage with a toolchain', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3)
    for (const s of stages) expect(s.args).toMatch(/^(node:20-slim|toolchain|build|prod-deps)( AS [\w-]+)?$/i)
    expect(text).toMatch(/apt-get install[^\n]*python3 make g\+\+/)
    expect(text).toContain('npm rebuild better-sqlite3')
    expect(text).toContain('npm run build')
    expect(text).toMatch(/npm ci --omit=dev/)
  })

  it('runs as a numeric non-root user with only production files', () => {
    const user = runtime.filter((i) => i.op === 'USER').at(-1)
    expect(user?.args).toMatch(/^[1-9]\d*(:\d+)?$/)
    const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args)
    expect(copies.some((c) => c.includes('--from=prod-deps') && c.includes('node_modules'))).toBe(true)
    expect(copies.some((c) => c.includes('--from=build') && c.includes('dist'))).toBe(true)
    // Sources, tests and dev dependencies never reach the runtime stage.
    expect(copies.some((c) => /\bsrc\b|\btest\b|--from=build\S* \S*node_modules/.test(c))).toBe(false)
  })

  it('listens on 8080, keeps DATA_DIR on a volume, checks /healthz with node and starts dist/src/main.js', () => {
    expect(runtime.find((i) => i.op === 'EXPOSE')?.args).toBe('8080')
    expect(text).toMatch(/DATA_DIR=\/data/)
    expect(runtime.find((i) => i.op === 'VOLUME')?.args).toContain('/data')
    const health = runtime.find((i) => i.op === 'HEALTHCHECK')
    expect(health?.args).toMatch(/CMD \["node", "-e", ".*\/healthz/)
    expect(JSON.parse(runtime.find((i) => i.op === 'CMD')!.args)).toEqual(['node', 'dist/src/main.js'])
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string, build: string } }
    expect(pkg.scripts.start).toBe('node dist/src/main.js')
  })

  it('sets only environment variables the gateway knows', () => {
    const env = runtime.filter((i) => i.op === 'ENV').flatMap((i) => [...i.args.matchAll(/(\w+)=/g)].map((m) => m[1]!))
    expect(env).toContain('DATA_DIR')
    expect(unknownEnv(env)).toEqual([])
  })

  it('keeps secrets, git history, local data and dependencies out of the build context', () => {
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim())
    for (const p of ['.env', 'node_modules', '.git', 'data', 'dist']) expect(ignored).toContain(p)
    // Everything the build stages COPY from the context must not be ignored.
    const fromContext = ins.filter((i) => i.op === 'COPY' && !i.args.includes('--from')).flatMap((i) => i.args.replace(/--\S+/g, '').trim().split(/\s+/).slice(0, -1))
    expect(fromContext.length).toBeGreaterThan(0)
    for (const f of fromContext) expect(ignored, f).not.toContain(f)
  })

  it('ships everything the gateway reads at run time: src/ reads no file besides the user\'s config', () => {
    // The runtime stage has dist/ (compiled .ts) and node_modules only: a .lua, .json or
    // template read from src/ at run time would be missing from the image.
    const files = (readdirSync('src', { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'))
    expect(files.length).toBeGreaterThan(10)
    const reading = files.filter((f) => /readFileSync|readFile\(|import\.meta\.url|createRequire/.test(readFileSync(join('src', f), 'utf8')))
    // The web UI reads its vite build from dist/ui, which ships as part of dist/; the journal
    // reads its own files under DATA_DIR, and the pricing file is the user's (PRICING_FILE).
    expect(reading.sort()).toEqual([join('config', 'load.ts'), join('metering', 'journal.ts'), join('metering', 'pricing-file.ts'), join('ui', 'static-files.ts')])
    expect((readdirSync('src', { recursive: true }) as string[]).filter((f) => /\.(lua|json|ya?ml|sql)$/.test(f))).toEqual([])
  })
})
