import type { Readable } from 'node:stream'

/**
 * Copies of hot-path code as it was before an optimisation, kept so that the micro
 * benchmarks show old and new side by side (and the next change can be judged against
 * both). Each says where it came from.
 */

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade'
])
const DROP_RESPONSE = new Set([...HOP_BY_HOP, 'content-length', 'set-cookie', 'date', 'server', 'alt-svc', 'strict-transport-security', 'cf-ray', 'cf-cache-status'])

function connectionListed (value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined
  const names = (Array.isArray(value) ? value.join(',') : value).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  return names.length > 0 ? new Set(names) : undefined
}

/** src/proxy/headers.ts clientResponseHeaders at f2c1626: parses Connection on every response. */
export function clientResponseHeadersV1 (upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = connectionListed(upstream.connection)
  const out: Record<string, string | string[]> = {}
  for (const name in upstream) {
    const v = upstream[name]
    if (v === undefined || DROP_RESPONSE.has(name) || listed?.has(name)) continue
    out[name] = v
  }
  return out
}

/** src/proxy/relay.ts readAll at f2c1626: async iteration of the undici body. */
export async function readAllV1 (body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  try {
    for await (const chunk of body) chunks.push(chunk as Buffer)
  } catch {}
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
}
