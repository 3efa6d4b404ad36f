/**
 * The id of the object a streamed creation makes, from the first events of the stream
 * (pure). A Responses stream opens with `response.created` (`response.id`); a stored chat
 * completion stream carries its `id` in every chunk. Only complete events are read.
 */

/** Bytes of a stream looked at for the id before giving up (64 KiB). */
export const MAX_ID_PREFIX_BYTES = 64 * 1024

type Found = { readonly id: string } | 'more' | 'none'

function idIn (data: string, responses: boolean): string | undefined {
  if (data.charCodeAt(0) !== 0x7b) return undefined
  let e: unknown
  try {
    e = JSON.parse(data)
  } catch {
    return undefined
  }
  const source = responses ? (e as { response?: unknown } | null)?.response : e
  const id = (source as { id?: unknown } | null | undefined)?.id
  return typeof id === 'string' && id.length > 0 && id.length <= 256 ? id : undefined
}

/**
 * The first id in the complete events of `text`: `{id}`; `'more'` when no complete event
 * had one yet and more may come; `'none'` when the prefix is spent.
 * @example streamObjectId('event: response.created\ndata: {"response":{"id":"resp_1"}}\n\n', true) // { id: 'resp_1' }
 */
export function streamObjectId (text: string, responses: boolean): Found {
  let start = 0
  for (;;) {
    const lf = text.indexOf('\n\n', start)
    const crlf = text.indexOf('\r\n\r\n', start)
    const end = lf === -1 ? crlf : crlf === -1 ? lf : Math.min(lf, crlf)
    if (end === -1) break
    const event = text.slice(start, end)
    for (const line of event.split(/\r?\n/)) {
      if (!line.startsWith('data:')) continue
      const id = idIn(line.slice(line.charCodeAt(5) === 0x20 ? 6 : 5), responses)
      if (id !== undefined) return { id }
    }
    start = end + (end === lf ? 2 : 4)
  }
  return text.length >= MAX_ID_PREFIX_BYTES ? 'none' : 'more'
}
