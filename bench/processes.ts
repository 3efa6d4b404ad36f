import { spawn, execFileSync, type ChildProcess, type StdioOptions } from 'node:child_process'
import { createServer } from 'node:net'
import { request } from 'undici'

/**
 * Child processes for the benchmark, pinned to a core with `taskset` when it exists:
 * the proxy under test on core 0, the origin, Redis and the load client on core 1, so
 * the proxy's CPU time is its own and the client never competes with it.
 */

export const PROXY_CORE = 0
export const LOAD_CORE = 1

let tasksetPresent: boolean | undefined
export function hasTaskset (): boolean {
  if (tasksetPresent === undefined) {
    try {
      execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
      tasksetPresent = true
    } catch {
      tasksetPresent = false
    }
  }
  return tasksetPresent
}

/** Pins the current process (the load client) to `core`; false when taskset is missing. */
export function pinSelf (core: number): boolean {
  if (!hasTaskset()) return false
  execFileSync('taskset', ['-cp', String(core), String(process.pid)], { stdio: 'ignore' })
  return true
}

export interface Child {
  readonly name: string
  readonly proc: ChildProcess
  readonly pid: number
  stop (): Promise<void>
}

/**
 * Spawns `command args` on `core` (taskset execs the command, so the pid is the
 * command's own). Stops with SIGTERM, then SIGKILL after `killAfterMs`.
 */
export function spawnPinned (name: string, core: number | undefined, command: string, args: string[], opts: { env?: NodeJS.ProcessEnv, stdio?: StdioOptions, cwd?: string } = {}): Child {
  const pinned = core !== undefined && hasTaskset()
  const proc = spawn(pinned ? 'taskset' : command, pinned ? ['-c', String(core), command, ...args] : args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: opts.stdio ?? ['ignore', 'ignore', 'inherit']
  })
  if (proc.pid === undefined) throw new Error(`${name}: could not spawn ${command}`)
  const pid = proc.pid
  return {
    name,
    proc,
    pid,
    stop: (killAfterMs = 5000) => new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
      const timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs)
      proc.once('exit', () => { clearTimeout(timer); resolve() })
      proc.kill('SIGTERM')
    })
  }
}

/** A free TCP port on 127.0.0.1. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** Polls `url` until it answers 2xx (bounded: `timeoutMs`). */
export async function waitHttp (url: string, child: Child, timeoutMs = 20_000, headers: Record<string, string> = {}): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited with code ${child.proc.exitCode}`)
    try {
      const res = await request(url, { headers })
      await res.body.dump()
      if (res.statusCode < 300) return
    } catch {}
    if (Date.now() > end) throw new Error(`${child.name}: ${url} not ready within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** This module's compiled sibling `name.js` (the benchmark runs from dist/bench). */
export function siblingScript (name: string): string {
  return new URL(`./${name}.js`, import.meta.url).pathname
}

/** True when the module at `metaUrl` is the process's entry script. */
export function isMain (metaUrl: string): boolean {
  return process.argv[1] !== undefined && new URL(metaUrl).pathname === process.argv[1]
}
