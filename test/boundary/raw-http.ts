import { connect } from 'node:net'

export interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * Sends one request exactly as spelled (no client library normalises the target) and
 * reads the answer until the gateway closes the connection.
 */
export async function rawRequest (url: string, method: string, target: string, headers: Record<string, string> = {}, body = ''): Promise<RawAnswer> {
  const { hostname, port } = new URL(url)
  const head = [`${method} ${target} HTTP/1.1`, `host: ${hostname}:${port}`, 'connection: close']
  for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`)
  if (body !== '' || method === 'POST') head.push(`content-length: ${Buffer.byteLength(body)}`)
  const socket = connect(Number(port), hostname)
  // The head byte for byte as spelled (latin1), the body as UTF-8 (its content-length).
  socket.write(head.join('\r\n') + '\r\n\r\n', 'latin1')
  socket.write(body, 'utf8')
  const chunks: Buffer[] = []
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.once('end', resolve)
    socket.once('close', () => resolve())
    socket.once('error', reject)
  })
  const text = Buffer.concat(chunks).toString('utf8')
  const split = text.indexOf('\r\n\r\n')
  const lines = text.slice(0, split).split('\r\n')
  const status = Number(lines[0]!.split(' ')[1])
  const out: Record<string, string> = {}
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':')
    out[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim()
  }
  let rest = text.slice(split + 4)
  if (out['transfer-encoding'] === 'chunked') {
    let decoded = ''
    for (;;) {
      const nl = rest.indexOf('\r\n')
      const size = parseInt(rest.slice(0, nl), 16)
      if (!(size > 0)) break
      decoded += rest.slice(nl + 2, nl + 2 + size)
      rest = rest.slice(nl + 2 + size + 2)
    }
    rest = decoded
  }
  return { status, headers: out, body: rest }
}
