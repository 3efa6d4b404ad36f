import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startObjectsUpstream, type ObjectsUpstream } from '../helpers/objects-upstream.js'

/** The test upstream speaks OpenAI's wire shapes: the real SDK parses its answers. */
describe('objects upstream (test helper)', () => {
  let up: ObjectsUpstream
  let client: OpenAI
  beforeAll(async () => {
    up = await startObjectsUpstream()
    client = new OpenAI({ baseURL: up.baseUrl, apiKey: 'sk-x', maxRetries: 0 })
  })
  afterAll(async () => { await up.close() })

  it('files, batches with output files and usage, lists, and lenient paths', async () => {
    const lines = '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-5.2-chat-latest","messages":[]}}\n{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-5.2-chat-latest","messages":[]}}\n'
    const file = await client.files.create({ file: await toFile(Buffer.from(lines), 'in.jsonl'), purpose: 'batch' })
    expect(file).toMatchObject({ object: 'file', filename: 'in.jsonl', bytes: lines.length })
    expect(await (await client.files.content(file.id)).text()).toBe(lines)
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
    const done = await client.batches.retrieve(batch.id)
    expect(done.status).toBe('completed')
    expect(done.usage?.input_tokens).toBe(1000)
    const out = await (await client.files.content(done.output_file_id!)).text()
    expect(out.trim().split('\n')).toHaveLength(2)
    const ids: string[] = []
    for await (const f of client.files.list({ limit: 1 })) ids.push(f.id)
    expect(ids).toEqual([done.output_file_id, file.id])
    const lenient = await fetch(up.baseUrl + '/files/../files/' + file.id + '/')
    expect(lenient.status).toBe(200)
  })
})
