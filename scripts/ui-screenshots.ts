/**
 * `npm run ui:screenshots`: starts a gateway in front of the mock upstream, fills it with
 * teams, keys, four weeks of spend and a few admin changes, then photographs every page of
 * the web UI in headless Chromium into docs/ui/*.png (the README shows them).
 */
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import type { Page } from 'playwright-core'
import { buildApp } from '../src/app.js'
import { configFrom } from '../src/config/load.js'
import { createDeps } from '../src/deps.js'
import { createLogger } from '../src/log.js'
import { sqliteLedgerStore } from '../src/metering/ledger-sqlite.js'
import { emptyRow, utcDay, type LedgerRow } from '../src/metering/record.js'
import { startMockUpstream } from '../src/mock/upstream.js'
import { openSqlite } from '../src/store/sqlite.js'
import { launchBrowser } from './ui-screenshots-browser.js'

const ADMIN_KEY = 'admin-screenshots-0123456789'
const OUT = join(process.cwd(), 'docs', 'ui')

/** USD per 1M tokens: input, cached input, output. */
const PRICES: Record<string, { input: number, cached_input: number, output: number }> = {
  'gpt-5.2-chat-latest': { input: 1.40, cached_input: 0.175, output: 11.20 },
  'gpt-5-mini': { input: 0.25, cached_input: 0.025, output: 2.00 },
  'claude-sonnet-4-5': { input: 3.00, cached_input: 0.30, output: 15.00 }
}

interface Created { id: string, key?: string, name: string }

type TeamOf = ReadonlyArray<readonly [name: string, id: string | undefined]>

async function main (): Promise<void> {
  mkdirSync(OUT, { recursive: true })
  const dataDir = mkdtempSync(join(tmpdir(), 'comet-gw-shots-'))
  const mock = await startMockUpstream()
  const config = configFrom({ UPSTREAM_BASE_URL: mock.baseUrl, UPSTREAM_API_KEY: 'sk-mock-upstream-key-0123456789', ADMIN_KEY, DATA_DIR: dataDir, LOG_LEVEL: 'warn', pricing: PRICES })
  const app = await buildApp(config, await createDeps(config, createLogger('warn')))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const db = openSqlite(dataDir)
  try {
    const { keys, teamOf, hasTeams } = await seedAdmin(url)
    await seedHistory(db, keys, teamOf)
    await sendTraffic(url, keys)
    await photograph(url, hasTeams)
  } finally {
    await app.close()
    await mock.close()
    db.close()
  }
}

/** Teams, keys and a few changes through the admin API, as the CLI, scripts and the page would make them. */
async function seedAdmin (url: string): Promise<{ keys: Created[], teamOf: TeamOf, hasTeams: boolean }> {
  const admin = async <T = Created>(method: string, path: string, body?: unknown, actor = 'admin_api'): Promise<T> => {
    const res = await fetch(url + '/admin' + path, {
      method,
      headers: { authorization: 'Bearer ' + ADMIN_KEY, 'content-type': 'application/json', 'x-gateway-actor': actor },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    return await res.json() as T
  }

  const hasTeams = (await fetch(url + '/admin/teams', { headers: { authorization: 'Bearer ' + ADMIN_KEY } })).status === 200
  if (!hasTeams) console.warn('this gateway has no teams API: the teams page will be empty')
  const team = async (body: Record<string, unknown>): Promise<string | undefined> => hasTeams ? (await admin('POST', '/teams', body, 'cli')).id : undefined
  const search = await team({ name: 'search', budget_usd: 25, budget_period: 'month', rpm: 600, models: ['gpt-5.2*', 'gpt-5-mini'] })
  const support = await team({ name: 'support-bot', budget_usd: 3, budget_period: 'month', tpm: 400000 })
  const research = await team({ name: 'research', budget_usd: 1000, budget_period: 'total', max_concurrency: 20 })
  const withTeam = (id: string | undefined): Record<string, string> => id === undefined ? {} : { team_id: id }

  const keys: Created[] = [
    await admin('POST', '/keys', { name: 'search-api', rpm: 300, budget_usd: 150, ...withTeam(search) }),
    await admin('POST', '/keys', { name: 'search-indexer', tpm: 200000, models: ['gpt-5-mini'], ...withTeam(search) }),
    await admin('POST', '/keys', { name: 'zendesk-assistant', rpm: 120, max_concurrency: 8, ...withTeam(support) }, 'ui'),
    await admin('POST', '/keys', { name: 'eval-harness', budget_usd: 500, budget_period: 'total', ...withTeam(research) }),
    await admin('POST', '/keys', { name: 'notebook-alice', rpm: 60, models: ['claude-sonnet-4-5', 'gpt-5.2*'], ...withTeam(research) }),
    await admin('POST', '/keys', { name: 'ci-smoke-tests', rpm: 30, budget_usd: 5, budget_period: 'day', cache_ttl_seconds: 3600 })
  ]
  const old = await admin('POST', '/keys', { name: 'legacy-batch-job', rpm: 10 })
  await admin('PATCH', '/keys/' + keys[1]!.id, { tpm: 250000 }, 'ui')
  if (hasTeams) await admin('POST', '/keys/' + keys[0]!.id + '/rotate', { grace_seconds: 3600 }, 'ui')
  await admin('DELETE', '/keys/' + old.id, undefined, 'cli')
  const teamOf: TeamOf = [['search', search], ['search', search], ['support-bot', support], ['research', research], ['research', research], ['', undefined]]
  return { keys, teamOf, hasTeams }
}

/** Four weeks of spend straight into the ledger (the store the gateway reads), weekdays busier. */
async function seedHistory (db: ReturnType<typeof openSqlite>, keys: Created[], teamOf: TeamOf): Promise<void> {
  const ledger = sqliteLedgerStore(db)
  const rows: LedgerRow[] = []
  const now = Date.now()
  const plan: Array<[number, string, number]> = [
    [0, 'gpt-5.2-chat-latest', 1.0], [1, 'gpt-5-mini', 2.2], [2, 'gpt-5.2-chat-latest', 0.55],
    [3, 'claude-sonnet-4-5', 0.8], [4, 'claude-sonnet-4-5', 0.25], [4, 'gpt-5.2-chat-latest', 0.2], [5, 'gpt-5-mini', 0.3]
  ]
  for (let d = 27; d >= 0; d--) {
    const day = utcDay(now - d * 86_400_000)
    const weekday = new Date(day + 'T00:00:00Z').getUTCDay()
    const load = (weekday === 0 || weekday === 6 ? 0.45 : 1) * (0.85 + 0.3 * Math.sin(d * 1.7))
    for (const [i, model, weight] of plan) {
      const requests = Math.round(900 * weight * load)
      const k = keys[i]!
      const [teamName, teamId] = teamOf[i]!
      // The team the key was in: kept by ledgers that record it, ignored by the others.
      const row: LedgerRow & { teamId: string, teamName: string } = { ...emptyRow(k.id, k.name, model, day), teamId: teamId ?? '', teamName }
      const p = PRICES[model]!
      row.requests = requests
      row.inputTokens = requests * 1800
      row.cachedInputTokens = requests * 700
      row.outputTokens = requests * 420
      row.reasoningTokens = requests * 120
      row.costNanos = Math.round(requests * ((1800 - 700) * p.input + 700 * p.cached_input + 420 * p.output) * 1000)
      row.cacheHits = Math.round(requests * 0.08)
      row.savedNanos = Math.round(row.cacheHits * (1800 * p.input + 420 * p.output) * 1000)
      rows.push(row)
    }
  }
  await ledger.write(rows, 'screenshots')
}

/** Today's traffic through the gateway with the openai SDK, cache hits included. */
async function sendTraffic (url: string, keys: Created[]): Promise<void> {
  const clients = keys.slice(1).map((k) => new OpenAI({ baseURL: url + '/v1', apiKey: k.key!, maxRetries: 0 }))
  const models = ['gpt-5-mini', 'gpt-5.2-chat-latest', 'claude-sonnet-4-5', 'claude-sonnet-4-5', 'gpt-5-mini']
  for (let i = 0; i < 40; i++) {
    const c = i % clients.length
    try {
      await clients[c]!.chat.completions.create({ model: models[c]!, messages: [{ role: 'user', content: 'question ' + (i % 7) }] }, { headers: { 'x-gateway-cache-ttl': '600' } })
    } catch (err) {
      // A team the history already took past its budget is refused: that is part of the picture.
      if (!(err instanceof OpenAI.RateLimitError) || err.code !== 'insufficient_quota') throw err
    }
  }
}

async function photograph (url: string, hasTeams: boolean): Promise<void> {
  const browser = await launchBrowser({ width: 1440, height: 760 })
  try {
    const page = await browser.context.newPage()
    await page.goto(url + '/ui/')
    await page.getByLabel('Admin key').fill('wrong-key')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').waitFor()
    await shot(page, 'sign-in')
    await page.getByLabel('Admin key').fill(ADMIN_KEY)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Keys' }).waitFor()
    await page.getByRole('table', { name: 'Keys' }).getByText('search-api').waitFor()
    await shot(page, 'keys')
    await page.getByRole('button', { name: 'New key' }).click()
    const form = page.getByRole('dialog', { name: 'New key' })
    await form.locator('input[name=name]').fill('billing-service')
    if (hasTeams) await form.locator('select[name=team_id]').selectOption({ label: 'support-bot' })
    await form.locator('input[name=rpm]').fill('120')
    await form.locator('input[name=budget_usd]').fill('25')
    await shot(page, 'key-create', false)
    await form.getByRole('button', { name: 'Create key' }).click()
    await page.getByRole('dialog', { name: 'Key created' }).getByTestId('secret').waitFor()
    await shot(page, 'key-created', false)
    await page.getByRole('button', { name: 'Done' }).click()
    await page.goto(url + '/ui/#/teams')
    if (hasTeams) await page.getByRole('table', { name: 'Teams' }).getByText('research').waitFor()
    await shot(page, 'teams')
    await page.goto(url + '/ui/#/usage')
    await page.getByTestId('spend-chart').locator('canvas').first().waitFor()
    await page.getByRole('table', { name: 'Usage by key' }).getByText('eval-harness').waitFor()
    await page.waitForTimeout(300)
    await shot(page, 'usage')
    await page.goto(url + '/ui/#/audit')
    await page.getByRole('table', { name: 'Audit log' }).locator('tbody tr').first().waitFor()
    await shot(page, 'audit')
  } finally {
    await browser.close()
  }
}

/** Whole pages; a page with a dialog open as the viewport shows it (the backdrop covers only that). */
async function shot (page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(OUT, name + '.png'), fullPage, animations: 'disabled' })
  console.log('docs/ui/' + name + '.png')
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
