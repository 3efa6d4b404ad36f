import { execFile, execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

export const ROOT = join(import.meta.dirname, '..', '..')
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js')

/** Newest modification time of the files under `dir`. */
function newest (dir: string): number {
  let max = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    max = Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return max
}

/**
 * Builds dist/ (as `npm run build` does) unless it is newer than every source file
 * (`npm test` builds before vitest runs). Other areas' type errors do not stop the emit.
 */
export function buildCli (): void {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newest(join(ROOT, 'src'))) return
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'ignore' })
  } catch {}
  if (!existsSync(CLI)) throw new Error('the build did not produce dist/src/cli/main.js')
}

export interface CliResult { code: number, stdout: string, stderr: string }

/** Runs `node dist/src/cli/main.js …args` as a user would, with only the given env. */
export async function cli (args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
      resolve({ code, stdout, stderr })
    })
  })
}
