/** A problem the CLI reports in one line and exits with (`code` 1: failed, 2: bad usage). */
export class CliError extends Error {
  override name = 'CliError'
  constructor (message: string, readonly exitCode: 1 | 2 = 1) {
    super(message)
  }
}

export interface AdminClientOptions {
  /** Gateway base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string
  readonly adminKey: string | undefined
  readonly timeoutMs?: number
}

export type AdminRequest = (method: string, path: string, body?: unknown) => Promise<unknown>

/** Why a fetch failed, as a person can act on it (`ECONNREFUSED` → is it running?). */
function networkMessage (url: string, err: unknown): string {
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  const code = cause?.code ?? (err as Error).name
  if (code === 'ECONNREFUSED') return `cannot reach the gateway at ${url} (connection refused): is it running? Set --url or PORT.`
  if (code === 'ENOTFOUND') return `cannot resolve the host of ${url}: check --url.`
  if (code === 'TimeoutError') return `the gateway at ${url} did not answer in time.`
  return `cannot reach the gateway at ${url}: ${cause?.message ?? (err as Error).message}`
}

/**
 * Calls the admin API of a running gateway; answers its JSON or throws a CliError with the
 * gateway's own error message (`404 not_found: No key with id …`).
 * @example const call = adminClient({ url, adminKey }); await call('GET', '/admin/keys')
 */
export function adminClient (options: AdminClientOptions): AdminRequest {
  const base = options.url.replace(/\/+$/, '')
  return async function call (method, path, body) {
    if (options.adminKey === undefined || options.adminKey === '') {
      throw new CliError('no admin key: set ADMIN_KEY in the environment or pass --admin-key.', 2)
    }
    // The audit log records which admin tool made a change.
    const headers: Record<string, string> = { authorization: `Bearer ${options.adminKey}`, accept: 'application/json', 'x-gateway-actor': 'cli' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) })
    } catch (err) {
      throw new CliError(networkMessage(base, err))
    }
    const text = await res.text()
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    if (!res.ok) {
      const error = (json as { error?: { message?: string, code?: string | null, param?: string | null } } | undefined)?.error
      const what = error?.message ?? (text.slice(0, 200) || res.statusText)
      throw new CliError(`${res.status}${error?.code ? ' ' + error.code : ''}: ${what}`)
    }
    if (json === undefined) throw new CliError(`${base}${path} answered ${res.status} without JSON: is --url a comet-gateway?`)
    return json
  }
}
