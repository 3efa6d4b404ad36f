import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'

/** A compose file's required variable left unset: compose stops with this message. */
export class MissingVariable extends Error {}

/**
 * Compose's interpolation of one string value: `$$` is a literal `$`; `${NAME}`, `$NAME`,
 * `${NAME:-default}` (unset or empty), `${NAME-default}` (unset), `${NAME:?message}` and
 * `${NAME?message}` (required). As the Compose Specification defines it, for the forms our
 * file uses.
 */
export function interpolate (value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)/g, (all, braced?: string, op?: string, arg?: string, bare?: string) => {
    if (all === '$$') return '$'
    const name = (braced ?? bare)!
    const v = env[name]
    const unset = op?.startsWith(':') === true ? v === undefined || v === '' : v === undefined
    if (op === ':-' || op === '-') return unset ? arg! : v!
    if (op === ':?' || op === '?') {
      if (unset) throw new MissingVariable(`required variable ${name} is missing a value: ${arg}`)
      return v!
    }
    return v ?? ''
  })
}

function walk (node: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, env)
  if (Array.isArray(node)) return node.map((n) => walk(n, env))
  if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, env)]))
  return node
}

export interface ComposeService {
  image?: string
  entrypoint?: string[]
  command?: string[]
  environment?: Record<string, string>
  ports?: unknown[]
  volumes?: unknown[]
}
export interface Rendered { services: Record<string, ComposeService> }

export type Renderer = 'parser' | 'docker compose' | 'docker-compose'

function works (file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore', timeout: 20_000 })
    return true
  } catch { return false }
}

/** The parser always; the compose clients installed here too (no daemon needed for `config`). */
export function renderers (): Renderer[] {
  const out: Renderer[] = ['parser']
  if (works('docker', ['compose', 'version'])) out.push('docker compose')
  else if (works('docker-compose', ['version'])) out.push('docker-compose')
  return out
}

/**
 * docker-compose.yml with `env` as the whole environment (no .env file is read), rendered
 * by our interpolation of the parsed file or by `docker compose config`.
 * @throws MissingVariable when a required variable is unset
 */
export function renderCompose (by: Renderer, env: Record<string, string>): Rendered {
  if (by === 'parser') return walk(parseYaml(readFileSync('docker-compose.yml', 'utf8')), env) as Rendered
  const envFile = join(mkdtempSync(join(tmpdir(), 'comet-compose-')), 'empty.env')
  writeFileSync(envFile, '')
  const [file, ...pre] = by === 'docker compose' ? ['docker', 'compose'] : ['docker-compose']
  try {
    const out = execFileSync(file!, [...pre, '--env-file', envFile, '-f', 'docker-compose.yml', 'config'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    return parseYaml(out) as Rendered
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '')
    if (/required variable|missing a value|is not set/i.test(stderr)) throw new MissingVariable(stderr.trim())
    throw err
  }
}
