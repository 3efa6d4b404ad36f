import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchBrowser, type Browser } from '../../scripts/ui-screenshots-browser.js'
import { ADMIN_KEY, startGateway, waitFor, type TestGateway } from '../helpers/gateway.js'

const MODEL = 'gpt-5.2-chat-latest'
const XSS = '<img src=x onerror=alert(1)>'

/** What a request with `secret` gets from the gateway: 200, or the refusal's status. */
async function statusWith (g: TestGateway, secret: string): Promise<number> {
  try {
    await g.client(secret).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] })
    return 200
  } catch (err) {
    return (err as { status?: number }).status ?? 0
  }
}

async function admin<T> (g: TestGateway, path: string): Promise<T> {
  const res = await fetch(g.url + '/admin' + path, { headers: { authorization: 'Bearer ' + ADMIN_KEY } })
  expect(res.status).toBe(200)
  return await res.json() as T
}

async function signIn (page: Page, g: TestGateway): Promise<void> {
  await page.goto(g.url + '/ui/')
  await page.getByLabel('Admin key').fill(ADMIN_KEY)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Keys' }).waitFor()
}

// Generous: a browser on a small, busy machine.
describe('the admin web page in headless Chromium', { timeout: 120_000 }, () => {
  let g: TestGateway
  let browser: Browser
  let page: Page
  const dialogs: string[] = []
  const cspViolations: string[] = []
  const pageErrors: string[] = []
  const foreignRequests: string[] = []
  const adminRequests: Array<Record<string, string>> = []
  let secret = ''
  let keyId = ''

  beforeAll(async () => {
    g = await startGateway()
    browser = await launchBrowser()
    page = await browser.context.newPage()
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}) })
    page.on('console', (m) => { if (/Content[- ]Security[- ]Policy/i.test(m.text())) cspViolations.push(m.text()) })
    page.on('pageerror', (e) => { pageErrors.push(e.message) })
    page.on('request', (r) => {
      if (!r.url().startsWith(g.url + '/')) foreignRequests.push(r.url())
      if (new URL(r.url()).pathname.startsWith('/admin/')) adminRequests.push(r.headers())
    })
  }, 180_000)
  afterAll(async () => {
    await browser?.close()
    await g?.close()
  })

  it('sends the strict content-security-policy with the page', async () => {
    const res = await page.goto(g.url + '/ui')
    expect(res!.url()).toBe(g.url + '/ui/')
    const csp = res!.headers()['content-security-policy']!
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(res!.headers()['x-content-type-options']).toBe('nosniff')
  })

  it('a wrong admin key gets a clear message and is not kept', async () => {
    await page.goto(g.url + '/ui/')
    await page.getByLabel('Admin key').fill('not-the-admin-key')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(async () => await page.getByRole('alert').innerText()).toContain('That admin key is not accepted by this gateway')
    expect(await page.evaluate('sessionStorage.length')).toBe(0)
    await page.getByRole('heading', { name: 'Sign in' }).waitFor()
  })

  it('a gateway without ADMIN_KEY says how to enable the admin API', async () => {
    const off = await startGateway({ ADMIN_KEY: undefined })
    try {
      const tab = await browser.context.newPage()
      await tab.goto(off.url + '/ui/')
      await tab.getByLabel('Admin key').fill('anything-at-all')
      await tab.getByRole('button', { name: 'Sign in' }).click()
      await expect.poll(async () => await tab.getByRole('alert').innerText()).toContain('start the gateway with ADMIN_KEY set')
      await tab.close()
    } finally {
      await off.close()
    }
  })

  it('signs in with the admin key, kept in sessionStorage and sent as a bearer token, no cookies', async () => {
    await signIn(page, g)
    expect(await page.evaluate("sessionStorage.getItem('comet-gateway.admin-key')")).toBe(ADMIN_KEY)
    expect(await browser.context.cookies()).toEqual([])
    const last = adminRequests.at(-1)!
    expect(last.authorization).toBe('Bearer ' + ADMIN_KEY)
    expect(last['x-gateway-actor']).toBe('ui')
    expect(last.cookie).toBeUndefined()
  })

  it('creates a team with a budget', async () => {
    await page.goto(g.url + '/ui/#/teams')
    await page.getByRole('button', { name: 'New team' }).click()
    const form = page.getByRole('dialog', { name: 'New team' })
    await form.locator('input[name=name]').fill('search')
    await form.locator('input[name=budget_usd]').fill('0.05')
    await form.getByRole('button', { name: 'Create team' }).click()
    await page.locator('tr', { hasText: 'search' }).getByText('$0.05').waitFor()
    const teams = await admin<{ data: Array<{ name: string, budget_usd: number }> }>(g, '/teams')
    expect(teams.data.map((t) => [t.name, t.budget_usd])).toEqual([['search', 0.05]])
  })

  it('creates a key in the team and shows its secret once, with a copy button', async () => {
    await page.goto(g.url + '/ui/#/keys')
    await page.getByRole('button', { name: 'New key' }).click()
    const form = page.getByRole('dialog', { name: 'New key' })
    await form.locator('input[name=name]').fill('alice')
    await form.locator('select[name=team_id]').selectOption({ label: 'search' })
    await form.getByRole('button', { name: 'Create key' }).click()
    const shown = page.getByRole('dialog', { name: 'Key created' })
    secret = await shown.getByTestId('secret').inputValue()
    expect(secret).toMatch(/^sk-[\w-]{32,}$/)
    await shown.getByText('shown only this once').waitFor()
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: g.url })
    await shown.getByRole('button', { name: 'Copy' }).click()
    await shown.getByRole('button', { name: 'Copied' }).waitFor()
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(secret)
    await shown.getByRole('button', { name: 'Done' }).click()
    const row = page.locator('tr', { hasText: 'alice' })
    await row.getByText('search').waitFor()
    keyId = (await row.getAttribute('data-key-id'))!
    expect(keyId).toBeTruthy()
    // Gone for good: not on the page, not in the admin API.
    expect(await page.getByTestId('secret').count()).toBe(0)
    expect(await page.content()).not.toContain(secret)
    expect(JSON.stringify(await admin(g, '/keys'))).not.toContain(secret)
    expect(await statusWith(g, secret)).toBe(200)
  })

  it('edits the key limits and models', async () => {
    await page.locator(`tr[data-key-id="${keyId}"]`).getByRole('button', { name: 'Edit' }).click()
    const form = page.getByRole('dialog', { name: 'Edit alice' })
    await form.locator('input[name=rpm]').fill('60')
    await form.locator('input[name=models]').fill('gpt-5.2*, gpt-4o-mini')
    await form.getByRole('button', { name: 'Save changes' }).click()
    const row = page.locator(`tr[data-key-id="${keyId}"]`)
    await row.getByText('gpt-4o-mini').waitFor()
    expect(await row.locator('td.num').first().innerText()).toBe('60')
    const key = await admin<{ rpm: number, models: string[], team_id: string }>(g, '/keys/' + keyId)
    expect(key.rpm).toBe(60)
    expect(key.models).toEqual(['gpt-5.2*', 'gpt-4o-mini'])
  })

  it('edits the team, and will not delete it while it has a key', async () => {
    await page.goto(g.url + '/ui/#/teams')
    const row = page.locator('tr', { hasText: 'search' })
    await row.getByRole('button', { name: 'Edit' }).click()
    const form = page.getByRole('dialog', { name: 'Edit search' })
    await form.locator('input[name=tpm]').fill('500000')
    await form.getByRole('button', { name: 'Save changes' }).click()
    await row.getByText('500,000').waitFor()
    expect((await admin<{ data: Array<{ tpm: number }> }>(g, '/teams')).data[0]!.tpm).toBe(500000)
    await row.getByRole('button', { name: 'Delete' }).click()
    const confirm = page.getByRole('dialog', { name: 'Delete search' })
    await confirm.getByRole('button', { name: 'Delete team' }).click()
    await expect.poll(async () => await confirm.getByRole('alert').innerText()).toContain('still has keys')
    await confirm.getByRole('button', { name: 'Cancel' }).click()
    expect((await admin<{ data: unknown[] }>(g, '/teams')).data).toHaveLength(1)
  })

  it('shows the spend the openai SDK made in the totals, the chart and the tables', async () => {
    const client = g.client(secret)
    await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hello' }] })
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'stream please' }], stream: true })
    for await (const chunk of stream) expect(chunk.object).toBe('chat.completion.chunk')
    let total = 0
    await waitFor(async () => {
      total = (await admin<{ total_cost_usd: number }>(g, '/usage?group_by=')).total_cost_usd
      return total > 0.0125
    }, 30_000, 200)

    await page.goto(g.url + '/ui/#/usage')
    await page.getByRole('heading', { name: 'Usage' }).waitFor()
    await expect.poll(async () => await page.getByTestId('total-cost').innerText()).toBe('$' + total.toFixed(4))
    const chart = page.getByTestId('spend-chart')
    await chart.locator('canvas').first().waitFor()
    expect(Number(await chart.getAttribute('data-total'))).toBeCloseTo(total, 9)
    await page.getByRole('list', { name: 'Chart legend' }).getByText(MODEL).waitFor()
    await page.getByRole('table', { name: 'Usage by key' }).getByText('alice').waitFor()
    await page.getByRole('table', { name: 'Usage by model' }).getByText(MODEL).waitFor()
  })

  it('shows the team\'s spend in the team table, the chart stacked by team and the budget bar', async () => {
    await page.getByRole('table', { name: 'Usage by team' }).getByText('search').waitFor()
    await page.getByRole('radio', { name: 'Team' }).click()
    await page.getByRole('list', { name: 'Chart legend' }).getByText('search').waitFor()
    await page.goto(g.url + '/ui/#/teams')
    const usage = await admin<{ data: Array<{ team_name: string, cost_usd: number }> }>(g, '/usage?group_by=team')
    const spent = usage.data.find((r) => r.team_name === 'search')!.cost_usd
    // Three requests of $0.006265 each against the $0.05 budget.
    expect(spent).toBeCloseTo(3 * 0.006265, 9)
    const row = page.locator('tr', { hasText: 'search' })
    await expect.poll(async () => Number(await row.getByRole('meter').getAttribute('aria-valuenow'))).toBe(Math.round(100 * spent / 0.05))
    expect(await row.innerText()).toContain('$' + spent.toFixed(4) + ' / $0.05')
  })

  it('rotates the key: a new secret shown once, the old one refused', async () => {
    await page.goto(g.url + '/ui/#/keys')
    await page.locator(`tr[data-key-id="${keyId}"]`).getByRole('button', { name: 'Rotate' }).click()
    await page.getByRole('dialog', { name: 'Rotate alice' }).getByRole('button', { name: 'Rotate key' }).click()
    const shown = page.getByRole('dialog', { name: 'Key rotated' })
    const rotated = await shown.getByTestId('secret').inputValue()
    expect(rotated).toMatch(/^sk-[\w-]{32,}$/)
    expect(rotated).not.toBe(secret)
    await shown.getByRole('button', { name: 'Done' }).click()
    await waitFor(async () => await statusWith(g, secret) === 401, 15_000, 200)
    expect(await statusWith(g, rotated)).toBe(200)
    expect((await admin<{ id: string }>(g, '/keys/' + keyId)).id).toBe(keyId)
    secret = rotated
  })

  it('revokes the key after a confirmation in the page', async () => {
    await page.locator(`tr[data-key-id="${keyId}"]`).getByRole('button', { name: 'Revoke' }).click()
    await page.getByRole('dialog', { name: 'Revoke alice' }).getByRole('button', { name: 'Revoke key' }).click()
    await page.locator(`tr[data-key-id="${keyId}"]`).waitFor({ state: 'detached' })
    await page.getByLabel('Filter by status').selectOption('revoked')
    await page.locator(`tr[data-key-id="${keyId}"]`).getByText('Revoked').waitFor()
    await waitFor(async () => await statusWith(g, secret) === 401, 15_000, 200)
  })

  it('shows the audit entries of every change made in the page, by actor ui', async () => {
    await page.goto(g.url + '/ui/#/audit')
    const table = page.getByRole('table', { name: 'Audit log' })
    for (const action of ['team.create', 'team.update', 'key.create', 'key.update', 'key.rotate', 'key.revoke']) {
      await table.locator(`tr[data-action="${action}"]`).first().waitFor()
    }
    const update = table.locator('tr[data-action="key.update"]').first()
    expect(await update.innerText()).toContain('rpm')
    expect(await update.innerText()).toContain('60')
    const actors = await table.locator('tbody tr td:nth-child(2)').allInnerTexts()
    expect(actors.length).toBeGreaterThanOrEqual(6)
    expect(new Set(actors)).toEqual(new Set(['ui']))
    expect(await table.innerText()).not.toContain(secret)
    // The key's History link filters the log down to that key.
    await page.goto(g.url + '/ui/#/audit?target_id=' + keyId)
    await expect.poll(async () => await table.locator('tbody tr').count()).toBe(4)
  })

  it(`a key named ${XSS} shows as text and runs nothing`, async () => {
    await page.goto(g.url + '/ui/#/keys')
    await page.getByRole('button', { name: 'New key' }).click()
    const form = page.getByRole('dialog', { name: 'New key' })
    await form.locator('input[name=name]').fill(XSS)
    await form.getByRole('button', { name: 'Create key' }).click()
    await page.getByRole('dialog', { name: 'Key created' }).getByRole('button', { name: 'Done' }).click()
    const cell = page.getByRole('table', { name: 'Keys' }).getByText(XSS, { exact: true })
    await cell.waitFor()
    expect(await cell.isVisible()).toBe(true)
    expect(await page.locator('img[src="x"]').count()).toBe(0)
    await page.goto(g.url + '/ui/#/audit')
    await page.getByRole('table', { name: 'Audit log' }).getByText(XSS, { exact: true }).first().waitFor()
    expect(await page.locator('img[src="x"]').count()).toBe(0)
    expect(dialogs).toEqual([])
  })

  it('a stored key the gateway no longer accepts sends the page back to sign-in, saying why', async () => {
    await page.evaluate("sessionStorage.setItem('comet-gateway.admin-key', 'a-stale-admin-key')")
    // A hash change: the page stays loaded and its next admin request gets the 401.
    await page.goto(g.url + '/ui/#/teams')
    await page.getByRole('heading', { name: 'Sign in' }).waitFor()
    await expect.poll(async () => await page.getByRole('alert').innerText()).toContain('not accepted')
    expect(await page.evaluate('sessionStorage.length')).toBe(0)
  })

  it('loaded nothing from elsewhere, broke no CSP rule and threw no error', () => {
    expect(foreignRequests).toEqual([])
    expect(cspViolations).toEqual([])
    expect(pageErrors).toEqual([])
    expect(adminRequests.length).toBeGreaterThan(10)
    for (const h of adminRequests) expect(h['x-gateway-actor']).toBe('ui')
  })
})
