import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from './snippets.js'

/** A clone has only this repository: its pages must not point outside it or to files it lacks. */
const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

describe('README and docs/', () => {
  it('link only to files of the repository that exist', () => {
    for (const page of pages) {
      const text = readFileSync(join(ROOT, page), 'utf8')
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!
        if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue
        const file = target.split('#')[0]!
        expect(existsSync(join(ROOT, dirname(page), file)), `${page} → ${target}`).toBe(true)
        expect(file, `${page} → ${target}`).not.toMatch(/^\.\.\//)
      }
    }
  })

  it('do not refer to documents a clone does not have', () => {
    for (const page of pages) {
      const text = readFileSync(join(ROOT, page), 'utf8')
      expect(text, page).not.toMatch(/\.\.\/shared|CONTRACT\.md|WIRE\.md/)
    }
  })

  it('give the first-hour path: demo, a visible ADMIN_KEY, the clone\'s CLI and redis-server for the tests', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    expect(readme).toContain('npm run demo')
    expect(readme).toContain('export ADMIN_KEY=$(openssl rand -hex 24); echo "$ADMIN_KEY"')
    expect(readme).toContain('npx --no-install comet-gateway keys create')
    expect(readme).toContain('node dist/src/cli/main.js')
    expect(readme).toContain('sudo apt-get install redis-server')
    expect(readme).toContain('docs/clients.md')
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>, scripts: Record<string, string> }
    expect(pkg.bin['comet-gateway']).toBe('dist/src/cli/main.js')
    expect(pkg.scripts.demo).toBe('node dist/src/demo.js')
    // npm ci builds dist/ (the CLI and the demo run from it), the CLI executable so npx can run it.
    expect(pkg.scripts.prepare).toBe('npm run build')
    expect(pkg.scripts.build).toMatch(/^tsc -p tsconfig\.build\.json && .*chmodSync\('dist\/src\/cli\/main\.js', 0o755\)/)
  })
})
