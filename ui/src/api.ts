/**
 * The admin API as the page uses it. The admin key lives in this tab's sessionStorage and
 * goes out as a bearer token; no cookies, so no other site can make the browser send it.
 */

import type { AuditEntry, CreatedKey, Key, LimitsInput, List, Team, Usage } from './types.js'

const STORAGE_KEY = 'comet-gateway.admin-key'

export function storedKey (): string | null {
  return sessionStorage.getItem(STORAGE_KEY)
}

export function storeKey (key: string | null): void {
  if (key === null) sessionStorage.removeItem(STORAGE_KEY)
  else sessionStorage.setItem(STORAGE_KEY, key)
}

/** An admin API refusal, with the gateway's OpenAI-shaped message and code. */
export class ApiError extends Error {
  constructor (readonly status: number, message: string, readonly code: string | null, readonly param: string | null) {
    super(message)
  }

  /** The admin key itself is wrong or the admin API is off: back to the sign-in page. */
  get signedOut (): boolean {
    return this.status === 401 || this.code === 'admin_disabled'
  }
}

type Query = Record<string, string | undefined>

let onSignedOut: (message: string) => void = () => {}

/** Called when a request finds the key no longer accepted (e.g. the gateway restarted with another). */
export function whenSignedOut (fn: (message: string) => void): void {
  onSignedOut = fn
}

export async function request<T> (method: string, path: string, opts: { key?: string, body?: unknown, query?: Query } = {}): Promise<T> {
  const key = opts.key ?? storedKey() ?? ''
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, v)
  const url = '/admin' + path + (qs.size > 0 ? '?' + qs.toString() : '')
  const headers: Record<string, string> = { authorization: 'Bearer ' + key, 'x-gateway-actor': 'ui', accept: 'application/json' }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), credentials: 'omit', cache: 'no-store' })
  } catch {
    throw new ApiError(0, 'The gateway did not answer. Is it running?', 'network', null)
  }
  const text = await res.text()
  let json: unknown = null
  try { json = text === '' ? null : JSON.parse(text) } catch { json = null }
  if (!res.ok) {
    const e = (json as { error?: { message?: string, code?: string, param?: string } } | null)?.error
    const err = new ApiError(res.status, e?.message ?? `The gateway answered ${res.status}.`, e?.code ?? null, e?.param ?? null)
    if (err.signedOut && opts.key === undefined) onSignedOut(signInMessage(err))
    throw err
  }
  return json as T
}

/** What the sign-in page says for a refused key. */
export function signInMessage (err: ApiError): string {
  if (err.status === 401) return 'That admin key is not accepted by this gateway. Check it and try again.'
  if (err.code === 'admin_disabled') return err.message
  if (err.status === 429) return 'Too many wrong admin keys from this address. Wait a minute and try again.'
  return err.message
}

export type { AuditEntry, BudgetPeriod, CreatedKey, Key, Limits, LimitsInput, List, Team, Usage, UsageRow } from './types.js'
export const api = {
  keys: async () => (await request<List<Key>>('GET', '/keys')).data,
  createKey: async (body: LimitsInput & { team_id?: string | null, expires_at?: string | null, cache_ttl_seconds?: number | null }) => await request<CreatedKey>('POST', '/keys', { body }),
  updateKey: async (id: string, body: Record<string, unknown>) => await request<Key>('PATCH', '/keys/' + encodeURIComponent(id), { body }),
  rotateKey: async (id: string, graceSeconds: number) => await request<CreatedKey>('POST', '/keys/' + encodeURIComponent(id) + '/rotate', { body: { grace_seconds: graceSeconds } }),
  revokeKey: async (id: string) => await request<Key>('DELETE', '/keys/' + encodeURIComponent(id)),
  teams: async () => (await request<List<Team>>('GET', '/teams')).data,
  createTeam: async (body: Record<string, unknown>) => await request<Team>('POST', '/teams', { body }),
  updateTeam: async (id: string, body: Record<string, unknown>) => await request<Team>('PATCH', '/teams/' + encodeURIComponent(id), { body }),
  deleteTeam: async (id: string) => await request<unknown>('DELETE', '/teams/' + encodeURIComponent(id)),
  usage: async (query: Query) => await request<Usage>('GET', '/usage', { query }),
  audit: async (query: Query) => (await request<List<AuditEntry>>('GET', '/audit', { query })).data
}
