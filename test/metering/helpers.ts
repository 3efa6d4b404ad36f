import { ADMIN_KEY, TEST_KEY, type TestGateway } from '../helpers/gateway.js'

/** GET /admin/usage with the admin key. */
export async function usage (gw: TestGateway, query = ''): Promise<{ status: number, body: { data: Array<Record<string, unknown>>, total_cost_usd: number, error?: { message: string, param: string | null } } }> {
  const res = await fetch(`${gw.url}/admin/usage${query}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  return { status: res.status, body: await res.json() as never }
}

/** One value of a metric in /metrics text, matched by name and every given label. */
export async function metricValue (gw: TestGateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

/** A raw POST through the gateway with the test key. */
export async function post (gw: TestGateway, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(`${gw.baseURL}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body)
  })
}

export const CHAT = { model: 'gpt-5.2-chat-latest', messages: [{ role: 'user' as const, content: 'hi' }] }
/** The hand-computed price of the mock's default usage: 400 × 1.40 + 600 × 0.175 + 500 × 11.20 per 1M. */
export const HAND_USD = 0.006265
