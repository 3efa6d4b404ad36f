import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { gatewayError } from '../errors.js'
import { defaultUiDir, loadStaticFiles, type StaticFile } from './static-files.js'

/**
 * The page loads only its own hashed script and stylesheet: no inline script or style, no
 * other origin, no framing, no forms posting elsewhere. The admin key is in the tab's
 * sessionStorage, so what this policy forbids is what could carry it away.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'"
].join('; ')

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin'
}

export interface UiPluginOptions {
  /** The built page (vite's output); default dist/ui. */
  readonly dir?: string
}

/**
 * `GET /ui/`: the admin web page, built by vite into dist/ui and held in memory. Hashed
 * assets are cached for a year; index.html is revalidated on every load (ETag), so a new
 * build shows up at once. `/ui` redirects to `/ui/` so the page's relative URLs resolve.
 * @example await app.register(uiPlugin)
 */
export async function uiPlugin (app: FastifyInstance, opts: UiPluginOptions = {}): Promise<void> {
  const files = loadStaticFiles(opts.dir ?? defaultUiDir())

  const send = (request: FastifyRequest, reply: FastifyReply, path: string): FastifyReply | StaticFile['body'] => {
    const file = files.get(path)
    if (file === undefined) {
      throw path === 'index.html'
        ? gatewayError('GW_ERR_OBJECT_NOT_FOUND', ['page', '/ui/ (the web UI is not built: run npm run build)'])
        : gatewayError('GW_ERR_OBJECT_NOT_FOUND', ['file', '/ui/' + path])
    }
    reply.headers(SECURITY_HEADERS).header('cache-control', file.cacheControl).header('etag', file.etag).header('vary', 'accept-encoding')
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send()
    reply.type(file.type)
    if (file.gzip !== undefined && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      reply.header('content-encoding', 'gzip')
      return file.gzip
    }
    return file.body
  }

  app.get('/ui', async (request, reply) => {
    // The router ignores trailing slashes, so /ui and /ui/ both land here.
    const [path = '', query] = request.url.split('?', 2)
    if (!path.endsWith('/')) return reply.redirect('/ui/' + (query !== undefined ? '?' + query : ''), 301)
    return send(request, reply, 'index.html')
  })
  app.get<{ Params: { '*': string } }>('/ui/*', async (request, reply) => send(request, reply, request.params['*'] === '' ? 'index.html' : request.params['*']))
}

export default uiPlugin
