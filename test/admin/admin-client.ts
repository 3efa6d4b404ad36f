import { ADMIN_KEY, type TestGateway } from '../helpers/gateway.js'

export interface AdminAnswer {
  status: number
  text: string
  // Tests read the JSON loosely: it is what a user's script would see.
  json: any
}

/** Calls the admin API of a test gateway the way a script would (raw fetch). */
export async function adminCall (gw: TestGateway | string, method: string, path: string, body?: unknown, adminKey: string | null = ADMIN_KEY): Promise<AdminAnswer> {
  const url = (typeof gw === 'string' ? gw : gw.url) + '/admin' + path
  const headers: Record<string, string> = {}
  if (adminKey !== null) headers.authorization = `Bearer ${adminKey}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, text, json }
}

/** Creates a key through the admin API; fails the test when that does not give 201. */
export async function createKey (gw: TestGateway | string, body: Record<string, unknown>): Promise<{ id: string, key: string, [k: string]: any }> {
  const r = await adminCall(gw, 'POST', '/keys', body)
  if (r.status !== 201) throw new Error(`create key: ${r.status} ${r.text}`)
  return r.json
}

export const MODEL = 'gpt-5.2-chat-latest'
export const HI = [{ role: 'user' as const, content: 'hi' }]
