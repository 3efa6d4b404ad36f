import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

/** One built file, held in memory with its headers worked out once. */
export interface StaticFile {
  readonly body: Buffer
  /** Present when compressing saved bytes. */
  readonly gzip: Buffer | undefined
  readonly type: string
  readonly etag: string
  readonly cacheControl: string
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2'
}

const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt'])

/** Vite names every bundled file `assets/<name>-<hash>.<ext>`: its content never changes under that name. */
const HASHED = /^assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/

export function cacheControlFor (path: string): string {
  return HASHED.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache'
}

/**
 * Where the built page is: dist/ui. The compiled server runs from dist/src/ui, the sources
 * (tests) from src/ui; both are two levels below the folder that holds dist/ui or dist.
 */
export function defaultUiDir (): string {
  const here = fileURLToPath(new URL('.', import.meta.url))
  const top = dirname(dirname(here))
  return basename(top) === 'dist' ? join(top, 'ui') : join(top, 'dist', 'ui')
}

/**
 * Reads every file under `dir` into memory, keyed by its path relative to `dir` with `/`
 * separators. The build is a handful of small files; serving from a map means a request
 * path is only ever a lookup key, never joined onto the file system. Missing dir: empty map.
 */
export function loadStaticFiles (dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>()
  if (!existsSync(dir)) return files
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const full = join(d, name)
      if (statSync(full).isDirectory()) { walk(full); continue }
      const path = relative(dir, full).split(sep).join('/')
      const ext = extname(name).toLowerCase()
      const body = readFileSync(full)
      const zipped = COMPRESSIBLE.has(ext) ? gzipSync(body, { level: 9 }) : undefined
      files.set(path, {
        body,
        gzip: zipped !== undefined && zipped.length < body.length ? zipped : undefined,
        type: TYPES[ext] ?? 'application/octet-stream',
        etag: '"' + createHash('sha256').update(body).digest('base64url').slice(0, 22) + '"',
        cacheControl: cacheControlFor(path)
      })
    }
  }
  walk(dir)
  return files
}
