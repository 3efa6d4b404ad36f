import { describe, expect, it } from 'vitest'
import { createdObjects, objectRoute, resultFiles, rootOf } from '../../src/ownership/collections.js'
import { bodyReferences, duplicateReference, MAX_REFERENCES, scanReferences, TooManyReferences } from '../../src/ownership/references.js'
import { filterPage, itemIds, parseList, upstreamCursor } from '../../src/ownership/list-filter.js'
import { streamObjectId } from '../../src/ownership/stream-id.js'

describe('object routes', () => {
  it.each([
    ['GET', '/files/file-1', { kind: 'object', collection: 'files', id: 'file-1', sub: undefined, depth: 0 }],
    ['GET', '/files/file-1/content?x=1', { kind: 'object', collection: 'files', id: 'file-1', sub: 'content', depth: 1 }],
    ['DELETE', '/files/file-1', { kind: 'object', collection: 'files', id: 'file-1', sub: undefined, depth: 0 }],
    ['POST', '/uploads/upload_1/parts', { kind: 'object', collection: 'uploads', id: 'upload_1', sub: 'parts', depth: 1 }],
    ['POST', '/batches/batch_1/cancel', { kind: 'object', collection: 'batches', id: 'batch_1', sub: 'cancel', depth: 1 }],
    ['GET', '/vector_stores/vs_1/files/file-2', { kind: 'object', collection: 'vector_stores', id: 'vs_1', sub: 'files', depth: 2 }],
    ['GET', '/containers/cntr_1/files/cfile_1/content', { kind: 'object', collection: 'containers', id: 'cntr_1', sub: 'files', depth: 3 }],
    ['GET', '/responses/resp_1/input_items', { kind: 'object', collection: 'responses', id: 'resp_1', sub: 'input_items', depth: 1 }],
    ['GET', '/chat/completions/chatcmpl-1/messages', { kind: 'object', collection: 'chat_completions', id: 'chatcmpl-1', sub: 'messages', depth: 1 }],
    ['POST', '/conversations/conv_1/items', { kind: 'object', collection: 'conversations', id: 'conv_1', sub: 'items', depth: 1 }],
    ['GET', '/fine_tuning/jobs/ftjob-1/events', { kind: 'object', collection: 'fine_tuning_jobs', id: 'ftjob-1', sub: 'events', depth: 1 }],
    // The upstream decodes escapes: the id looked up is the one it will read.
    ['GET', '/files/file%2D1', { kind: 'object', collection: 'files', id: 'file-1', sub: undefined, depth: 0 }],
    ['GET', '/files', { kind: 'list', collection: 'files' }],
    ['GET', '/batches?limit=2', { kind: 'list', collection: 'batches' }],
    ['GET', '/chat/completions', { kind: 'list', collection: 'chat_completions' }],
    ['GET', '/fine_tuning/jobs', { kind: 'list', collection: 'fine_tuning_jobs' }],
    ['POST', '/files', { kind: 'create', collection: 'files' }],
    ['POST', '/responses', { kind: 'create', collection: 'responses' }],
    ['POST', '/chat/completions', { kind: 'create', collection: 'chat_completions' }],
    ['POST', '/fine_tuning/jobs', { kind: 'create', collection: 'fine_tuning_jobs' }]
  ])('%s %s', (method, path, expected) => {
    expect(objectRoute(method, path)).toEqual(expected)
  })

  it.each([
    ['POST', '/responses/compact'],
    ['POST', '/responses/input_tokens'],
    ['POST', '/embeddings'],
    ['GET', '/models/gpt-5'],
    ['GET', '/fine_tuning/checkpoints'],
    ['GET', '/uploads'],
    ['GET', '/responses']
  ])('%s %s names no object', (method, path) => {
    expect(objectRoute(method, path)).toBeUndefined()
  })

  it('other spellings of a collection are the collection (lenient routers read them so)', () => {
    expect(objectRoute('GET', '/Files/file-1')).toMatchObject({ kind: 'object', collection: 'files', id: 'file-1' })
    expect(objectRoute('GET', '/%66iles')).toEqual({ kind: 'list', collection: 'files' })
    expect(objectRoute('GET', '/CHAT/Completions/chatcmpl-1')).toMatchObject({ collection: 'chat_completions', id: 'chatcmpl-1' })
    expect(objectRoute('POST', '/responses/Compact')).toBeUndefined()
  })

  it('a percent escape that does not decode stays raw (never a recorded id)', () => {
    expect(objectRoute('GET', '/files/%E0%A4%A')).toMatchObject({ id: '%E0%A4%A' })
  })

  it('rootOf is the first segment', () => {
    expect(rootOf('/files/x?y')).toBe('files')
    expect(rootOf('/chat/completions')).toBe('chat')
    expect(rootOf('/embeddings?x')).toBe('embeddings')
    expect(rootOf('/files')).toBe('files')
  })
})

describe('created ids', () => {
  it('the id of a creation answer', () => {
    expect(createdObjects({ kind: 'create', collection: 'files' }, { id: 'file-1', object: 'file' })).toEqual([{ collection: 'files', id: 'file-1' }])
    expect(createdObjects({ kind: 'create', collection: 'files' }, { error: {} })).toEqual([])
    expect(createdObjects({ kind: 'create', collection: 'files' }, [1])).toEqual([])
  })

  it('a completed upload gives its file; a response its automatic containers', () => {
    expect(createdObjects({ kind: 'object', collection: 'uploads', id: 'upload_1', sub: 'complete', depth: 1 }, { id: 'upload_1', file: { id: 'file-9' } }))
      .toEqual([{ collection: 'files', id: 'file-9' }])
    expect(createdObjects({ kind: 'create', collection: 'responses' }, { id: 'resp_1', output: [{ type: 'code_interpreter_call', container_id: 'cntr_1' }, { type: 'message' }] }))
      .toEqual([{ collection: 'responses', id: 'resp_1' }, { collection: 'containers', id: 'cntr_1' }])
  })

  it('result files of batches and fine-tuning jobs point at their parent', () => {
    expect(resultFiles('batches', { id: 'batch_1', output_file_id: 'file-o', error_file_id: null })).toEqual([{ collection: 'files', id: 'file-o', parentId: 'batch_1' }])
    expect(resultFiles('fine_tuning_jobs', { id: 'ftjob-1', result_files: ['file-r', 3] })).toEqual([{ collection: 'files', id: 'file-r', parentId: 'ftjob-1' }])
    expect(resultFiles('files', { id: 'file-1' })).toEqual([])
  })
})

describe('body references', () => {
  it('top-level references and their params', () => {
    expect(bodyReferences({ previous_response_id: 'resp_1', conversation: { id: 'conv_1' }, training_file: 'file-t', validation_file: 'file-v' })).toEqual([
      { collection: 'responses', id: 'resp_1', param: 'previous_response_id' },
      { collection: 'conversations', id: 'conv_1', param: 'conversation' },
      { collection: 'files', id: 'file-t', param: 'training_file' },
      { collection: 'files', id: 'file-v', param: 'validation_file' }
    ])
    expect(bodyReferences({ conversation: 'conv_2' })).toEqual([{ collection: 'conversations', id: 'conv_2', param: 'conversation' }])
  })

  it('file ids in inputs and messages, vector stores of tools, containers, a batch input file', () => {
    const refs = bodyReferences({
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi' }, { type: 'input_file', file_id: 'file-a' }] }],
      messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-b' } }] }],
      tools: [{ type: 'file_search', vector_store_ids: ['vs_1', 'vs_2'] }, { type: 'code_interpreter', container: 'cntr_1' }, { type: 'code_interpreter', container: { type: 'auto', file_ids: ['file-c'] } }],
      input_file_id: 'file-d'
    })
    // Every place once, whatever the order of the walk.
    expect([...refs].sort((a, b) => a.param.localeCompare(b.param))).toEqual([
      { collection: 'files', id: 'file-a', param: 'input[0].content[1].file_id' },
      { collection: 'files', id: 'file-d', param: 'input_file_id' },
      { collection: 'files', id: 'file-b', param: 'messages[0].content[0].file.file_id' },
      { collection: 'vector_stores', id: 'vs_1', param: 'tools[0].vector_store_ids[0]' },
      { collection: 'vector_stores', id: 'vs_2', param: 'tools[0].vector_store_ids[1]' },
      { collection: 'containers', id: 'cntr_1', param: 'tools[1].container' },
      { collection: 'files', id: 'file-c', param: 'tools[2].container.file_ids[0]' }
    ].sort((a, b) => a.param.localeCompare(b.param)))
  })

  it('schemas, metadata and citations are not references', () => {
    expect(bodyReferences({
      metadata: { file_id: 'mine' },
      text: { format: { type: 'json_schema', schema: { properties: { file_id: { type: 'string' }, container: { type: 'string' } } } } },
      input: [{ role: 'assistant', content: [{ type: 'output_text', text: 'x', annotations: [{ type: 'container_file_citation', file_id: 'cfile_1', container_id: 'cntr_9' }] }] }],
      previous_response_id: null,
      file_id: 42
    })).toEqual([])
  })

  it('names are matched under case folding, as Go upstreams read them', () => {
    expect(bodyReferences({ input: [{ File_ID: 'file-x' }, { vector_ſtore_id: 'vs_y' }, { tools: [{ Vector_Store_IDs: ['vs_z'] }] }] }).map((r) => r.id).sort()).toEqual(['file-x', 'vs_y', 'vs_z'])
  })

  it('a reference name given twice in one object is found in the text', () => {
    const twice = '{"input":[{"type":"input_file","file_id":"file-theirs","file_id":"file-mine"}]}'
    expect(scanReferences(JSON.parse(twice))).toMatchObject({ named: true, refs: [{ id: 'file-mine' }] })
    expect(duplicateReference(twice)).toBe('file_id')
    expect(duplicateReference('{"a":{"file_id":"x","FILE_ID":"y"}}')).toBe('FILE_ID')
    expect(duplicateReference(String.raw`{"a":{"file_id":"x","file\u005fid":"y"}}`)).toBe('file_id')
    expect(duplicateReference('{"a":{"file_id":{},"file_id":"theirs"}}')).toBe('file_id')
    // The same name in different objects, in strings, or in arrays is not a duplicate.
    expect(duplicateReference(String.raw`{"a":[{"file_id":"x"},{"file_id":"y"}],"t":""file_id":1,"file_id"","b":{"file_id":"z","c":{"file_id":"w"}}}`)).toBeUndefined()
    expect(scanReferences({ messages: [{ role: 'user', content: 'hi' }] }).named).toBe(false)
  })

  it('deep nesting is walked without recursion', () => {
    let v: Record<string, unknown> = { file_id: 'file-deep' }
    for (let i = 0; i < 20_000; i++) v = { a: [v] }
    const refs = bodyReferences(v)
    expect(refs).toHaveLength(1)
    expect(refs[0]!.id).toBe('file-deep')
    expect(refs[0]!.param.startsWith('a[0].a[0].')).toBe(true)
  })

  it('too many references throw with the param reached', () => {
    const ids = Array.from({ length: MAX_REFERENCES + 1 }, (_, i) => `file-${i}`)
    expect(() => bodyReferences({ file_ids: ids })).toThrow(TooManyReferences)
    expect(bodyReferences({ file_ids: ids.slice(0, MAX_REFERENCES) })).toHaveLength(MAX_REFERENCES)
  })
})

describe('list filtering', () => {
  const page = parseList(Buffer.from(JSON.stringify({ object: 'list', data: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { nope: 1 }], first_id: 'a', last_id: 'c', has_more: true })))!

  it('keeps only the caller\'s items and moves the cursors with them', () => {
    expect(itemIds(page)).toEqual(['a', 'b', 'c'])
    expect(filterPage(page, (id) => id === 'b')).toEqual({ object: 'list', data: [{ id: 'b' }], first_id: 'b', last_id: 'b', has_more: true })
    expect(filterPage(page, () => false)).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: true })
  })

  it('cursor fields are only written when the upstream sent them', () => {
    const bare = parseList(Buffer.from('{"object":"list","data":[{"id":"a"}],"has_more":false}'))!
    expect(filterPage(bare, () => true)).toEqual({ object: 'list', data: [{ id: 'a' }], has_more: false })
    expect(upstreamCursor(bare)).toBeUndefined()
    expect(upstreamCursor(page)).toBe('c')
  })

  it('non-lists are not pages', () => {
    expect(parseList(Buffer.from('{"object":"file"}'))).toBeUndefined()
    expect(parseList(Buffer.from('nope'))).toBeUndefined()
  })
})

describe('stream ids', () => {
  it('a responses stream: response.id of the first event', () => {
    const text = 'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}\n\nevent: x\n'
    expect(streamObjectId(text, true)).toEqual({ id: 'resp_1' })
  })

  it('a chat stream: the chunk id; CRLF events', () => {
    expect(streamObjectId('data: {"id":"chatcmpl-1","choices":[]}\r\n\r\n', false)).toEqual({ id: 'chatcmpl-1' })
  })

  it('incomplete events ask for more; a spent prefix gives up', () => {
    expect(streamObjectId('data: {"id":"chatcmpl-1"', false)).toBe('more')
    expect(streamObjectId(': ping\n\n'.padEnd(70_000, ' '), false)).toBe('none')
  })
})
