import { describe, expect, it } from 'vitest'
import { readBody as readBodyMaybeSync, type ReadOptions } from '../../src/proxy/body-reader.js'
import { topLevelKeyProblem } from '../../src/proxy/json-keys.js'
import { gatewayError, GatewayError } from '../../src/errors.js'

/** The reader as a Promise either way, so sync refusals and async ones are judged alike. */
const readBody = async (body: Buffer, opts: ReadOptions) => await readBodyMaybeSync(body, opts)
const chat = (contentType: string | undefined = 'application/json'): ReadOptions => ({ path: '/chat/completions', method: 'POST', contentType })
const read = (body: string | Buffer, opts: ReadOptions) => readBody(typeof body === 'string' ? Buffer.from(body) : body, opts)

async function refusal (p: Promise<unknown>): Promise<{ status: number, code: string | null, param: string | null, message: string }> {
  try {
    await p
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err
    return { status: err.status, code: err.openaiCode, param: err.param, message: err.message }
  }
  throw new Error('not refused')
}

function multipart (fields: Array<[string, string, string?]>, boundary = 'XyZ'): { body: Buffer, contentType: string } {
  let s = ''
  for (const [name, value, filename] of fields) {
    s += `--${boundary}\r\ncontent-disposition: form-data; name="${name}"${filename !== undefined ? `; filename="${filename}"` : ''}\r\n`
    if (filename !== undefined) s += 'content-type: application/octet-stream\r\n'
    s += `\r\n${value}\r\n`
  }
  s += `--${boundary}--\r\n`
  return { body: Buffer.from(s), contentType: `multipart/form-data; boundary=${boundary}` }
}

describe('JSON is decided by content', () => {
  it.each(['application/json', 'text/plain', undefined, 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x'])('an object sent as %s is JSON', async (type) => {
    const facts = await read(' \n{"model":"gpt-5","stream":true}', chat(type))
    expect(facts).toMatchObject({ kind: 'json', model: 'gpt-5', stream: true })
  })

  it('also on routes that do not take JSON, and for any method', async () => {
    expect(await read('{"model":"m"}', { path: '/files/abc', method: 'GET', contentType: 'text/plain' })).toMatchObject({ kind: 'json', model: 'm' })
    expect(await read('\ufeff{"model":"m"}', { path: '/batches', method: 'POST', contentType: undefined })).toMatchObject({ kind: 'json', model: 'm' })
  })

  it('anything else on a JSON route is 400', async () => {
    for (const path of ['/chat/completions', '/responses', '/embeddings', '/completions', '/moderations', '/images/generations', '/audio/speech']) {
      const opts = { path, method: 'POST', contentType: 'text/plain' }
      expect((await refusal(read('model=gpt-5', opts))).status).toBe(400)
      expect((await refusal(read('[{"model":"x"}]', opts))).message).toMatch(/must be a JSON object/)
      expect((await refusal(read('{"model":', opts))).message).toMatch(/could not parse/)
      expect((await refusal(read('', opts))).message).toMatch(/empty/)
    }
  })

  it('anything else elsewhere goes on unread; bad JSON that claims to be JSON is 400', async () => {
    expect(await read('raw bytes', { path: '/files/x/content', method: 'POST', contentType: 'application/octet-stream' })).toMatchObject({ kind: 'other', model: undefined })
    expect(await read('[1,2]', { path: '/batches', method: 'POST', contentType: undefined })).toMatchObject({ kind: 'other' })
    expect((await refusal(read('{"a":', { path: '/batches', method: 'POST', contentType: 'application/json; charset=utf-8' }))).status).toBe(400)
    expect(await read(Buffer.alloc(0), { path: '/models', method: 'GET', contentType: undefined })).toMatchObject({ kind: 'none' })
  })

  it('a compressed body is refused: the gateway cannot read it, a lenient upstream would', async () => {
    expect((await refusal(readBody(Buffer.from([0x1f, 0x8b, 1, 2]), { ...chat(), contentEncoding: 'gzip' }))).status).toBe(415)
    expect(await readBody(Buffer.from('{"model":"m"}'), { ...chat(), contentEncoding: 'identity' })).toMatchObject({ kind: 'json' })
  })

  it('the bounds prescan runs before the parse', async () => {
    const prescan = (b: Buffer) => b.length > 10 ? gatewayError('GW_ERR_BODY_TOO_COMPLEX', ['too deep']) : undefined
    expect((await refusal(readBody(Buffer.from('{"model":"gpt-5-long"}'), { ...chat(), prescan }))).code).toBe('body_too_complex')
  })
})

describe('JSON fields the gateway judges', () => {
  it.each([
    ['{"model":"a","model":"b"}', 'model'],
    ['{"stream":false,"messages":[],"stream":true}', 'stream'],
    ['{"model":"a","\\u006dodel":"b"}', 'model'],
    ['{"model":"a","x":{"model":"b"},"y":[{"model":"c"}],"n":1,"n":2}', 'n']
  ])('a top-level key given twice is 400 duplicate_field: %s', async (body, key) => {
    expect(await refusal(read(body, chat()))).toMatchObject({ status: 400, code: 'duplicate_field', param: key })
  })

  it('keys that fold to the same name collide, and a mis-cased known name is refused (Go upstreams match field names case-insensitively)', async () => {
    expect(await refusal(read('{"model":"a","Model":"b"}', chat()))).toMatchObject({ code: 'duplicate_field', param: 'Model' })
    expect(await refusal(read('{"stream":false,"\u017Ftream":true}', chat()))).toMatchObject({ code: 'duplicate_field' })
    expect(await refusal(read('{"model":"a","STREAM":true}', chat()))).toMatchObject({ status: 400, param: 'STREAM' })
    expect(await refusal(read('{"model":"a","\u017Ftream":true}', chat()))).toMatchObject({ status: 400, param: '\u017Ftream' })
  })

  it('nested duplicates and keys inside strings are the body\'s business', async () => {
    const body = '{"model":"a","messages":[{"role":"user","content":"\\"model\\":1, \\\\\\"x"},{"role":"user","role":"x"}],"metadata":{"A":"1","a":"2"}}'
    expect(await read(body, chat())).toMatchObject({ kind: 'json', model: 'a' })
    expect(topLevelKeyProblem(body)).toBeUndefined()
  })

  it.each([
    ['"true"'], ['1'], ['"1"'], ['{}'], ['[]']
  ])('stream must be a boolean: %s is 400 with param stream', async (v) => {
    expect(await refusal(read(`{"model":"a","stream":${v}}`, chat()))).toMatchObject({ status: 400, param: 'stream' })
  })

  it('stream null is no stream', async () => {
    expect(await read('{"model":"a","stream":null}', chat())).toMatchObject({ stream: false })
  })

  it.each([['""'], ['null'], ['1'], ['["a"]'], ['{"id":"a"}']])('model must be a non-empty string: %s is 400 with param model', async (v) => {
    expect(await refusal(read(`{"model":${v}}`, chat()))).toMatchObject({ status: 400, param: 'model' })
  })

  it('model is required where OpenAI requires it, and not on /responses (stored prompts)', async () => {
    for (const path of ['/chat/completions', '/completions', '/embeddings', '/audio/speech']) {
      expect(await refusal(read('{"input":"x"}', { path, method: 'POST', contentType: 'application/json' }))).toMatchObject({ status: 400, param: 'model' })
    }
    expect(await read('{"prompt":{"id":"pmpt_1"}}', { path: '/responses', method: 'POST', contentType: 'application/json' })).toMatchObject({ kind: 'json', model: undefined })
    expect(await read('{"input":"x"}', { path: '/moderations', method: 'POST', contentType: 'application/json' })).toMatchObject({ model: undefined })
  })
})

describe('multipart bodies are read for model and stream', () => {
  const transcribe = (body: Buffer, contentType: string): ReadOptions & { body: Buffer } => ({ path: '/audio/transcriptions', method: 'POST', contentType, body })

  it('finds the model wherever it stands, after a file too', async () => {
    const { body, contentType } = multipart([['file', 'RIFF....WAVEdata', 'a.wav'], ['model', 'gpt-4o-transcribe'], ['stream', 'true']])
    expect(await readBody(body, transcribe(body, contentType))).toMatchObject({ kind: 'multipart', model: 'gpt-4o-transcribe', stream: true })
  })

  it('a large file streams through without a second copy of the upload', async () => {
    const big = 'x'.repeat(8 * 1024 * 1024)
    const { body, contentType } = multipart([['image', big, 'a.png'], ['model', 'gpt-image-1'], ['prompt', 'a cat']])
    const opts: ReadOptions = { path: '/images/edits', method: 'POST', contentType }
    expect(await readBody(body, opts)).toMatchObject({ model: 'gpt-image-1', stream: false })
  })

  it.each([
    [[['model', 'a'], ['model', 'b']], 'duplicate_field'],
    [[['model', 'a'], ['Model', 'b']], 'duplicate_field'],
    [[['MODEL', 'b']], 'duplicate_field'],
    [[['stream', 'true'], ['stream', 'false']], 'duplicate_field']
  ] as Array<[Array<[string, string]>, string]>)('a watched field given twice (or mis-cased) is 400: %j', async (fields, code) => {
    const { body, contentType } = multipart([['file', 'x', 'a.wav'], ...fields])
    expect(await refusal(readBody(body, { path: '/audio/transcriptions', method: 'POST', contentType }))).toMatchObject({ status: 400, code })
  })

  it('refuses a model sent as a file, a stream that is not true/false, an over-long model, a missing model where required, too many parts, malformed bodies', async () => {
    const opts = (contentType: string): ReadOptions => ({ path: '/audio/transcriptions', method: 'POST', contentType })
    const cases: Array<{ body: Buffer, contentType: string }> = [
      multipart([['model', 'whisper-1', 'm.txt']]),
      multipart([['model', 'whisper-1'], ['stream', '1']]),
      multipart([['model', 'w'.repeat(5000)]]),
      multipart([['file', 'x', 'a.wav']]),
      multipart([...Array.from({ length: 1001 }, (_, i) => [`f${i}`, 'v'] as [string, string]), ['model', 'whisper-1']]),
      { body: Buffer.from('--XyZ\r\ncontent-disposition: form-data; name="model"\r\n\r\nwhisper-1'), contentType: 'multipart/form-data; boundary=XyZ' },
      { body: multipart([['model', 'whisper-1']]).body, contentType: 'multipart/form-data; boundary=XyZ; boundary=other' }
    ]
    for (const c of cases) {
      const r = await refusal(readBody(c.body, opts(c.contentType)))
      expect(r.status, r.message).toBe(400)
    }
  })

  it('a multipart route refuses a body that is neither JSON nor multipart', async () => {
    expect((await refusal(read('model=whisper-1', { path: '/audio/transcriptions', method: 'POST', contentType: 'application/x-www-form-urlencoded' }))).status).toBe(400)
  })
})
