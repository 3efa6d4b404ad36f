import { createServer, type IncomingHttpHeaders } from 'node:http'
import { Pool } from 'undici'
import { freePort, isMain, PROXY_CORE, siblingScript, spawnPinned, waitHttp, type Child } from './processes.js'

/**
 * The floor: the least a Node relay can do. node:http in, undici Pool out, the request
 * and response bodies piped as bytes (undici `stream()` writes straight into the
 * ServerResponse with backpressure), hop-by-hop headers dropped, nothing parsed, no
 * log, no metrics. Whatever the gateway costs above this is the gateway's own.
 */

export interface BareRelay extends Child {
  readonly url: string
}

/** Starts the bare relay process on the proxy core in front of `origin`. */
export async function startBareRelay (origin: string, connections: number): Promise<BareRelay> {
  const port = await freePort()
  const child = spawnPinned('bare relay', PROXY_CORE, process.execPath, [siblingScript('bare-relay'), String(port), origin, String(connections)])
  const url = `http://127.0.0.1:${port}`
  await waitHttp(`${url}/v1/models`, child)
  return { ...child, url }
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer', 'host'])

function endToEnd (headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const v = headers[name]
    if (v !== undefined && !HOP.has(name)) out[name] = v
  }
  return out
}

if (isMain(import.meta.url)) {
  const [port, origin, connections] = process.argv.slice(2)
  const pool = new Pool(origin!, { connections: Number(connections ?? 256), pipelining: 1, keepAliveTimeout: 30_000 })
  const server = createServer((req, res) => {
    res.socket?.setNoDelay(true)
    pool.stream({
      method: req.method as 'POST',
      path: req.url ?? '/',
      headers: endToEnd(req.headers),
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req
    }, ({ statusCode, headers }) => {
      res.writeHead(statusCode, endToEnd(headers))
      return res
    }).catch(() => {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(Number(port ?? await freePort()), '127.0.0.1')
  process.once('SIGTERM', () => {
    server.closeAllConnections()
    server.close(() => { pool.close().then(() => process.exit(0), () => process.exit(1)) })
  })
}
