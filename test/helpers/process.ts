import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export const ROOT = join(import.meta.dirname, '..', '..')

/** Makes sure `dist/` exists (npm test builds first; a lone `vitest run` may not have). */
export function ensureBuilt (): void {
  if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' })
  }
}

export interface Spawned {
  proc: ChildProcess
  stdout: string[]
  stderr: string[]
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  /** Waits until stdout+stderr match `re`. */
  waitForOutput (re: RegExp, timeoutMs?: number): Promise<string>
}

/** Runs a node script of dist/ with `env` (nothing inherited but PATH). */
export function spawnNode (script: string, env: Record<string, string>, args: string[] = []): Spawned {
  const proc = spawn(process.execPath, [join(ROOT, script), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const stdout: string[] = []
  const stderr: string[] = []
  const listeners = new Set<() => void>()
  proc.stdout!.on('data', (c: Buffer) => { stdout.push(c.toString()); for (const l of listeners) l() })
  proc.stderr!.on('data', (c: Buffer) => { stderr.push(c.toString()); for (const l of listeners) l() })
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return {
    proc,
    stdout,
    stderr,
    exited,
    waitForOutput: (re, timeoutMs = 20_000) => new Promise((resolve, reject) => {
      const check = (): void => {
        const all = stdout.join('') + stderr.join('')
        const m = re.exec(all)
        if (m !== null) { listeners.delete(check); clearTimeout(timer); resolve(m[0]) }
      }
      const timer = setTimeout(() => { listeners.delete(check); reject(new Error(`no output matching ${re} within ${timeoutMs} ms:\n${stdout.join('')}${stderr.join('')}`)) }, timeoutMs)
      listeners.add(check)
      check()
    })
  }
}
