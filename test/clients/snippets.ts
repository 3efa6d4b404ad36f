import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const ROOT = join(import.meta.dirname, '..', '..')

export interface Snippet { name: string, lang: string, code: string }

/**
 * The code blocks of a Markdown page that follow a `<!-- snippet: NAME -->` marker: the
 * page is the source, so what the tests run is what readers copy.
 */
export function readSnippets (file: string): Snippet[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const out: Snippet[] = []
  for (const m of text.matchAll(/<!-- snippet: ([\w-]+) -->\n```(\w+)\n([\s\S]*?)\n```/g)) {
    out.push({ name: m[1]!, lang: m[2]!, code: m[3]! + '\n' })
  }
  return out
}

export interface RunResult { code: number, stdout: string, stderr: string }

/** Runs a command asynchronously (the gateway under test lives in this process). */
export async function run (file: string, args: string[], env: Record<string, string>, cwd = ROOT): Promise<RunResult> {
  return await new Promise((resolve) => {
    execFile(file, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * Runs a Node snippet as a reader would: saved as a `.mjs` file in a folder where the
 * packages are installed (under this repository's node_modules, so imports resolve there).
 */
export async function runNodeSnippet (s: Snippet, env: Record<string, string>): Promise<RunResult> {
  const dir = join(ROOT, 'node_modules', '.cache', 'comet-clients-doc')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${s.name}.mjs`)
  writeFileSync(file, s.code)
  return await run(process.execPath, [file], env, dir)
}
