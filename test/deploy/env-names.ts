import { readFileSync } from 'node:fs'
import { configSchema } from '../../src/config/schema.js'

/** The environment variables the gateway reads: the schema's upper-case settings... */
export const SCHEMA_ENV = new Set(Object.keys(configSchema.shape).filter((k) => k === k.toUpperCase()))

/** ...plus GATEWAY_CONFIG (the file's path, read by config/load.ts) and Node's own. */
export const OTHER_ENV = new Set(['GATEWAY_CONFIG', 'NODE_ENV', 'NODE_OPTIONS'])

/** Names a deploy file sets that the gateway would silently ignore (typos, stale names). */
export function unknownEnv (names: Iterable<string>): string[] {
  if (!readFileSync('src/config/load.ts', 'utf8').includes('GATEWAY_CONFIG')) throw new Error('config/load.ts no longer reads GATEWAY_CONFIG')
  return [...names].filter((n) => !SCHEMA_ENV.has(n) && !OTHER_ENV.has(n))
}

/** `comet-gateway:<version>`, the image name every deploy file refers to. */
export function expectedImage (): { name: string, tag: string } {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string, version: string }
  return { name: pkg.name, tag: pkg.version }
}
