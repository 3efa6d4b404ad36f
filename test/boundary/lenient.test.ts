import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI, { toFile } from 'openai'
import { ADMIN_KEY, startGateway, TEST_KEY, waitFor, type TestGateway } from '../helpers/gateway.js'
import { LENIENT_USAGE, startLenientUpstream, type LenientUpstream } from '../helpers/lenient-upstream.js'
import { rawRequest } from './raw-http.js'

/**
 * The whole boundary against an upstream that serves whatever it can make sense of:
 * nothing outside the rules reaches it, and everything it serves is metered to the key
 * that asked and the model it served.
 */

const KEYS = {
  plain: TEST_KEY,
  mini: 'sk-mini-only-0123456789abcdefghijklmnopqrstuvwxyz',
  budget: 'sk-budgeted-0123456789abcdefghijklmnopqrstuvwxyz',
  ft: 'sk-finetune-0123456789abcdefghijklmnopqrstuvwxyz'
}

interface UsageRow { key_name: string, model: string, requests: number, input_tokens: number, output_tokens: number }

async function usageRows (gw: TestGateway): Promise<UsageRow[]> {
  const res = await fetch(`${gw.url}/admin/usage?group_by=key,model`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  return ((await res.json()) as { data: UsageRow[] }).data
}

function multipart (fields: Array<[string, string, string?]>): { body: string, type: string } {
  let body = ''
  for (const [name, value, filename] of fields) {
    body += `--B\r\ncontent-disposition: form-data; name="${name}"${filename !== undefined ? `; filename="${filename}"` : ''}\r\n\r\n${value}\r\n`
  }
  return { body: body + '--B--\r\n', type: 'multipart/form-data; boundary=B' }
}

describe('a hostile key holder against a lenient upstream', () => {
  let up: LenientUpstream
  let gw: TestGateway
  beforeAll(async () => {
    up = await startLenientUpstream()
    gw = await startGateway({
      UPSTREAM_BASE_URL: up.baseUrl,
      keys: [
        { name: 'plain', key: KEYS.plain },
        { name: 'mini', key: KEYS.mini, models: ['gpt-5-mini', 'gpt-4o-mini-transcribe'] },
        { name: 'budget', key: KEYS.budget, budget_usd: 5 },
        { name: 'ft', key: KEYS.ft, routes: ['fine_tuning/*', 'chat/completions'] }
      ]
    })
  })
  afterAll(async () => {
    await gw.close()
    await up.close()
  })

  const post = (key: string, path: string, body: string, type = 'application/json') => rawRequest(gw.url, 'POST', path, { authorization: `Bearer ${key}`, 'content-type': type }, body)

  it('JSON sent as text/plain gets the allow-list: refused for a model the key may not use, nothing relayed', async () => {
    const before = up.requests.length
    for (const type of ['text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded']) {
      const r = await post(KEYS.mini, '/v1/chat/completions', '{"model":"o3-pro","messages":[]}', type)
      expect(r.status, type).toBe(403)
      expect(JSON.parse(r.body).error.code).toBe('model_not_allowed')
    }
    expect(up.requests.length).toBe(before)
  })

  it('duplicate and mis-cased keys, and a stream that is not a boolean, are refused before the upstream', async () => {
    const before = up.requests.length
    for (const body of [
      '{"model":"gpt-5-mini","model":"o3-pro","messages":[]}',
      '{"model":"gpt-5-mini","Model":"o3-pro","messages":[]}',
      '{"model":"gpt-5-mini","messages":[],"stream":false,"stream":true}',
      '{"model":"gpt-5-mini","messages":[],"stream":"true"}',
      '{"model":"gpt-5-mini","messages":[],"stream":1}',
      '{"model":"gpt-5-mini","messages":[],"\u017Ftream":true}'
    ]) {
      const r = await post(KEYS.mini, '/v1/chat/completions', body, 'text/plain')
      expect(r.status, body).toBe(400)
    }
    expect(up.requests.length).toBe(before)
  })

  it('multipart uploads are read for their model: another key\'s model is 403, the allowed one is served and metered under it', async () => {
    const before = up.requests.length
    const bad = multipart([['file', 'RIFFxxxxWAVE', 'a.wav'], ['model', 'gpt-4o-transcribe']])
    expect((await post(KEYS.mini, '/v1/audio/transcriptions', bad.body, bad.type)).status).toBe(403)
    const edits = multipart([['image', 'PNG', 'a.png'], ['prompt', 'cat'], ['model', 'gpt-image-1']])
    expect((await post(KEYS.mini, '/v1/images/edits', edits.body, edits.type)).status).toBe(403)
    expect(up.requests.length).toBe(before)
    const client = gw.client(KEYS.mini)
    const t = await client.audio.transcriptions.create({ file: await toFile(Buffer.from('RIFFxxxxWAVE'), 'a.wav'), model: 'gpt-4o-mini-transcribe' })
    expect(t.text).toBe('hello')
    expect(up.requests.at(-1)!.model).toBe('gpt-4o-mini-transcribe')
    await waitFor(async () => (await usageRows(gw)).some((r) => r.key_name === 'mini' && r.model === 'gpt-4o-mini-transcribe' && r.requests === 1))
  })

  it('routes outside the key\'s set are 403 route_not_allowed and never relayed; a key whose routes name them gets them', async () => {
    const before = up.requests.length
    const auth = { authorization: `Bearer ${KEYS.plain}` }
    for (const [method, path] of [['GET', '/v1/organization/users'], ['GET', '/v1/organization/admin_api_keys'], ['POST', '/v1/fine_tuning/jobs'], ['GET', '/v1/evals'], ['POST', '/v1/realtime/sessions'], ['POST', '/v1/realtime/client_secrets'], ['POST', '/v1/realtime/transcription_sessions'], ['GET', '/v1/dashboard/billing']] as const) {
      const r = await rawRequest(gw.url, method, path, { ...auth, 'content-type': 'application/json' }, method === 'POST' ? '{}' : '')
      expect(r.status, path).toBe(403)
      expect(JSON.parse(r.body).error.code).toBe('route_not_allowed')
    }
    expect(up.requests.length).toBe(before)
    const ft = await rawRequest(gw.url, 'GET', '/v1/fine_tuning/jobs', { authorization: `Bearer ${KEYS.ft}` })
    expect(ft.status).toBe(200)
    expect(up.requests.at(-1)!.path).toBe('/v1/fine_tuning/jobs')
    expect((await rawRequest(gw.url, 'GET', '/v1/models', { authorization: `Bearer ${KEYS.ft}` })).status).toBe(403)
  })

  it('a budgeted key may not use a model without a price; a key without a budget may, metered in tokens', async () => {
    const before = up.requests.length
    await expect(gw.client(KEYS.budget).chat.completions.create({ model: 'mystery-model-9', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 403, code: 'model_not_priced' })
    expect(up.requests.length).toBe(before)
    await gw.client(KEYS.plain).chat.completions.create({ model: 'mystery-model-9', messages: [{ role: 'user', content: 'hi' }] })
    await waitFor(async () => (await usageRows(gw)).some((r) => r.key_name === 'plain' && r.model === 'mystery-model-9' && r.input_tokens === LENIENT_USAGE.input))
  })

  it('/v1/responses without model (a stored prompt) is served and metered under the model the upstream reports', async () => {
    up.once((_r, res) => {
      const text = JSON.stringify({ id: 'resp_p', object: 'response', status: 'completed', model: 'gpt-5-mini', output: [], usage: { input_tokens: 7, output_tokens: 3, total_tokens: 10 } })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(text)
    })
    const r = await gw.client(KEYS.plain).responses.create({ prompt: { id: 'pmpt_123' } } as never)
    expect(r.id).toBe('resp_p')
    await waitFor(async () => (await usageRows(gw)).some((row) => row.key_name === 'plain' && row.model === 'gpt-5-mini' && row.input_tokens === 7))
    // A key with an allow-list must name the model.
    await expect(gw.client(KEYS.mini).responses.create({ prompt: { id: 'pmpt_123' } } as never)).rejects.toMatchObject({ status: 400, param: 'model' })
  })

  it('a streamed /v1/responses without model is metered under the model the stream reports', async () => {
    up.once((_r, res) => {
      const done = { id: 'resp_s', object: 'response', status: 'completed', model: 'gpt-4.1-nano', output: [], usage: { input_tokens: 31, output_tokens: 37, total_tokens: 68 } }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`event: response.created\ndata: ${JSON.stringify({ type: 'response.created', response: { ...done, status: 'in_progress', usage: null } })}\n\n`)
      res.end(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', response: done })}\n\n`)
    })
    const r = await post(KEYS.plain, '/v1/responses', '{"prompt":{"id":"pmpt_9"},"stream":true}')
    expect(r.status).toBe(200)
    await waitFor(async () => (await usageRows(gw)).some((row) => row.key_name === 'plain' && row.model === 'gpt-4.1-nano' && row.input_tokens === 31))
  })

  it('an upstream redirect is 502 upstream_redirect: the SDK never follows it, the location is never shown', async () => {
    up.once((_r, res) => {
      res.writeHead(307, { location: 'https://evil.example/v1/chat/completions', 'content-type': 'text/html' })
      res.end('moved')
    })
    const before = up.requests.length
    const err = await gw.client(KEYS.plain).chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'secret prompt' }] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect(err).toMatchObject({ status: 502, code: 'upstream_redirect' })
    expect(JSON.stringify((err as InstanceType<typeof OpenAI.APIError>).headers)).not.toContain('evil')
    expect(up.requests.length).toBe(before + 1)
  })

  it('an upstream error that echoes the credential shows sk-*** instead', async () => {
    const secret = gw.config.UPSTREAM_API_KEY!
    up.once((r, res) => {
      const text = JSON.stringify({ error: { message: `Incorrect API key provided: ${String(r.headers.authorization)}`, type: 'invalid_request_error', code: 'invalid_api_key' } })
      res.writeHead(401, { 'content-type': 'application/json', 'x-debug-auth': String(r.headers.authorization) })
      res.end(text)
    })
    const r = await rawRequest(gw.url, 'GET', '/v1/models', { authorization: `Bearer ${KEYS.plain}` })
    expect(r.status).toBe(401)
    expect(r.body).not.toContain(secret)
    expect(r.body).toContain('Bearer sk-***')
    expect(r.headers['x-debug-auth']).toBe('Bearer sk-***')
  })

  it('an SSE answer to a request that did not ask for a stream is metered', async () => {
    up.once((_r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"id":"c","object":"chat.completion.chunk","model":"gpt-5-mini","choices":[{"index":0,"delta":{"content":"x"}}]}\n\n')
      res.write('data: {"id":"c","object":"chat.completion.chunk","model":"gpt-5-mini","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":13,"total_tokens":24}}\n\n')
      res.end('data: [DONE]\n\n')
    })
    const r = await post(KEYS.budget, '/v1/chat/completions', '{"model":"gpt-4.1-nano","messages":[]}')
    expect(r.status).toBe(200)
    await waitFor(async () => (await usageRows(gw)).some((row) => row.key_name === 'budget' && row.model === 'gpt-4.1-nano' && row.input_tokens === 11 && row.output_tokens === 13))
  })

  it('usage in a chunk other than the last is metered', async () => {
    up.once((_r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4.1-mini","choices":[],"usage":{"prompt_tokens":17,"completion_tokens":19,"total_tokens":36}}\n\n')
      res.write('data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4.1-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
      res.end('data: [DONE]\n\n')
    })
    const stream = await gw.client(KEYS.budget).chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } })
    for await (const c of stream) expect(c.object).toBe('chat.completion.chunk')
    await waitFor(async () => (await usageRows(gw)).some((row) => row.key_name === 'budget' && row.model === 'gpt-4.1-mini' && row.input_tokens === 17))
  })

  it('an answer compressed despite accept-encoding: identity is decoded for metering, or estimated when it cannot be', async () => {
    up.once((_r, res) => {
      const body = gzipSync(JSON.stringify({ id: 'c', object: 'chat.completion', model: 'o4-mini', choices: [], usage: { prompt_tokens: 41, completion_tokens: 43, total_tokens: 84 } }))
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length })
      res.end(body)
    })
    expect((await post(KEYS.budget, '/v1/chat/completions', '{"model":"o4-mini","messages":[]}')).status).toBe(200)
    await waitFor(async () => (await usageRows(gw)).some((r) => r.key_name === 'budget' && r.model === 'o4-mini' && r.input_tokens === 41 && r.output_tokens === 43))
    up.once((_r, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
      res.end('not gzip at all')
    })
    expect((await post(KEYS.budget, '/v1/chat/completions', '{"model":"o3","messages":[{"role":"user","content":"hello there"}]}')).status).toBe(200)
    await waitFor(() => gw.logs.some((l) => l.includes('"model":"o3"') && l.includes('"estimated":true')))
    await waitFor(async () => (await usageRows(gw)).some((r) => r.key_name === 'budget' && r.model === 'o3' && r.requests === 1))
  })

  it('a background response read back as a stream (or with a trailing slash) is billed once, to its creator', async () => {
    const json = (res: import('node:http').ServerResponse, body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    up.once((_r, res) => json(res, { id: 'resp_bg1', object: 'response', status: 'queued', model: 'gpt-5-nano', output: [], usage: null }))
    const created = await post(KEYS.budget, '/v1/responses', '{"model":"gpt-5-nano","input":"hi","background":true}')
    expect(JSON.parse(created.body).status).toBe('queued')
    const done = { id: 'resp_bg1', object: 'response', status: 'completed', model: 'gpt-5-nano', output: [], usage: { input_tokens: 23, output_tokens: 29, total_tokens: 52 } }
    up.once((_r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`event: response.in_progress\ndata: ${JSON.stringify({ type: 'response.in_progress', response: { ...done, status: 'in_progress', usage: null } })}\n\n`)
      res.end(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', response: done })}\n\n`)
    })
    const read = await rawRequest(gw.url, 'GET', '/v1/responses/resp_bg1/?stream=true', { authorization: `Bearer ${KEYS.budget}` })
    expect(read.status).toBe(200)
    expect(up.requests.at(-1)!.rawUrl).toBe('/v1/responses/resp_bg1?stream=true')
    await waitFor(async () => (await usageRows(gw)).some((r) => r.key_name === 'budget' && r.model === 'gpt-5-nano' && r.input_tokens === 23 && r.requests === 1))
    up.once((_r, res) => json(res, done))
    expect((await rawRequest(gw.url, 'GET', '/v1/responses/resp_bg1', { authorization: `Bearer ${KEYS.budget}` })).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 500))
    const rows = (await usageRows(gw)).filter((r) => r.model === 'gpt-5-nano')
    expect(rows).toEqual([expect.objectContaining({ key_name: 'budget', input_tokens: 23, output_tokens: 29, requests: 1 })])
  })

  it('every inference request the upstream served is in the ledger, under the key that asked and the model it served', async () => {
    // The upstream's own answers all carry usage (scripted ones are checked where they are written).
    const served = up.requests.filter((r) => !r.scripted && r.method === 'POST' && ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/audio/transcriptions', '/v1/images/edits'].includes(r.path))
    expect(served.length).toBeGreaterThanOrEqual(2)
    const rows = await usageRows(gw)
    const ledger = rows.reduce((n, r) => n + r.requests, 0)
    expect(ledger).toBeGreaterThanOrEqual(served.length)
    for (const r of served) {
      const model = r.model ?? 'gpt-5-mini'
      expect(rows.some((row) => row.model === model), `${r.path} ${model}`).toBe(true)
      // The request's own line: metered exactly (not estimated), under the model the upstream served.
      const id = r.headers['x-request-id']
      const line = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reqId === id && l.msg === 'request')
      expect(line, `${r.path} ${String(id)}`).toMatchObject({ model, tokens: { input: LENIENT_USAGE.input, output: LENIENT_USAGE.output } })
      expect(line?.estimated).toBeUndefined()
      expect(['plain', 'mini', 'budget', 'ft']).toContain(line?.keyName)
    }
  })
})
