import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cacheControlFor, defaultUiDir } from '../../src/ui/static-files.js'
import { uiPlugin, UI_CSP } from '../../src/ui/plugin.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'

const INDEX = '<!doctype html><script type="module" src="/ui/assets/index-AbCdEf12.js"></script>'
const SCRIPT = 'console.log("ui");'.repeat(50)

describe('the web UI plugin on a built folder', () => {
  let app: FastifyInstance
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'comet-gw-ui-'))
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), INDEX)
    writeFileSync(join(dir, 'assets', 'index-AbCdEf12.js'), SCRIPT)
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
    app = Fastify({ routerOptions: { ignoreTrailingSlash: true } })
    await app.register(uiPlugin, { dir })
    await app.ready()
  })
  afterAll(async () => { await app.close() })

  it('serves index.html at /ui/ with the strict CSP, nosniff and no-cache', async () => {
    const res = await app.inject('/ui/')
    expect(res.statusCode).toBe(200)
    expect(res.body).toBe(INDEX)
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(res.headers['content-security-policy']).toBe(UI_CSP)
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) {
      expect(UI_CSP).toContain(directive)
    }
    expect(UI_CSP).not.toContain('unsafe-inline')
    expect(UI_CSP).not.toContain('unsafe-eval')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.headers['x-frame-options']).toBe('DENY')
    expect(res.headers['cache-control']).toBe('no-cache')
    expect(res.headers['set-cookie']).toBeUndefined()
  })

  it('redirects /ui to /ui/ (keeping the query)', async () => {
    const res = await app.inject('/ui')
    expect(res.statusCode).toBe(301)
    expect(res.headers.location).toBe('/ui/')
    expect((await app.inject('/ui?x=1')).headers.location).toBe('/ui/?x=1')
  })

  it('caches hashed assets for a year as immutable, other files revalidate', async () => {
    const js = await app.inject('/ui/assets/index-AbCdEf12.js')
    expect(js.statusCode).toBe(200)
    expect(js.body).toBe(SCRIPT)
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    const icon = await app.inject('/ui/favicon.svg')
    expect(icon.headers['content-type']).toBe('image/svg+xml')
    expect(icon.headers['cache-control']).toBe('no-cache')
    expect(cacheControlFor('index.html')).toBe('no-cache')
    expect(cacheControlFor('assets/uPlot-x.js')).toBe('no-cache')
  })

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await app.inject('/ui/')
    const etag = first.headers.etag as string
    expect(etag).toMatch(/^"[\w-]+"$/)
    const again = await app.inject({ url: '/ui/', headers: { 'if-none-match': etag } })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
  })

  it('sends gzip to clients that accept it', async () => {
    const res = await app.inject({ url: '/ui/assets/index-AbCdEf12.js', headers: { 'accept-encoding': 'gzip, br' } })
    expect(res.headers['content-encoding']).toBe('gzip')
    expect(res.headers.vary).toBe('accept-encoding')
    expect(gunzipSync(res.rawPayload).toString()).toBe(SCRIPT)
  })

  it('never serves anything outside the built folder', async () => {
    for (const url of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/..%2fpackage.json', '/ui/assets/../../package.json', '/ui//etc/passwd', '/ui/nope.js']) {
      const res = await app.inject(url)
      expect(res.statusCode, url).toBe(404)
      expect(res.body).not.toContain('"name"')
    }
  })
})

describe('the gateway serves the built page', () => {
  let g: TestGateway
  beforeAll(async () => { g = await startGateway() })
  afterAll(async () => { await g.close() })

  it('/ui/ is the vite build, whose script and stylesheet are hashed files under /ui/assets/', async () => {
    expect(defaultUiDir()).toMatch(/dist[/\\]ui[/\\]?$/)
    const res = await fetch(g.url + '/ui/')
    expect(res.status, 'run `npm run build` first: the page is built by vite into dist/ui').toBe(200)
    expect(res.headers.get('content-security-policy')).toBe(UI_CSP)
    expect(res.headers.get('x-request-id')).toMatch(/^req_/)
    const html = await res.text()
    // No inline script: every <script> has a src on this origin.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    expect(scripts.length).toBeGreaterThan(0)
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/src="\/ui\/assets\/[\w-]+\.js"/)
      expect(body!.trim()).toBe('')
    }
    expect(html).not.toMatch(/https?:\/\//)
    const src = /src="(\/ui\/assets\/[\w-]+\.js)"/.exec(html)![1]!
    const js = await fetch(g.url + src)
    expect(js.status).toBe(200)
    expect(js.headers.get('cache-control')).toContain('immutable')
    // The bundle loads nothing from elsewhere at run time.
    expect(await js.text()).not.toMatch(/(?:fonts\.googleapis|cdn\.jsdelivr|unpkg\.com)/)
  })
})
