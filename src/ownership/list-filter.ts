/**
 * Filtering of list answers (`{"object":"list","data":[…],"first_id","last_id","has_more"}`)
 * to the caller's objects (pure). The cursor fields are rewritten to the page the client
 * sees, so the SDKs' `after=<last id>` pagination continues from the last item they got;
 * `has_more` stays the upstream's.
 */

type Obj = Record<string, unknown>

export interface ListPage {
  readonly body: Obj
  readonly data: readonly unknown[]
}

/** The page of a list answer, or undefined when the body is not a list. */
export function parseList (bytes: Buffer): ListPage | undefined {
  let body: unknown
  try {
    body = JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined
  const b = body as Obj
  if (!Array.isArray(b.data)) return undefined
  return { body: b, data: b.data }
}

/** The string ids of a page's items, in order. */
export function itemIds (page: ListPage): string[] {
  const ids: string[] = []
  for (const item of page.data) {
    const id = (item as { id?: unknown } | null)?.id
    if (typeof id === 'string') ids.push(id)
  }
  return ids
}

/**
 * The page with only the items `keep` accepts; items without a string id are dropped
 * (nothing says whose they are). `first_id` / `last_id` follow the kept items when the
 * upstream sent them.
 */
export function filterPage (page: ListPage, keep: (id: string) => boolean): Obj {
  const data = page.data.filter((item) => {
    const id = (item as { id?: unknown } | null)?.id
    return typeof id === 'string' && keep(id)
  })
  const out: Obj = { ...page.body, data }
  const first = (data[0] as { id: string } | undefined)?.id ?? null
  const last = (data[data.length - 1] as { id: string } | undefined)?.id ?? null
  if ('first_id' in out) out.first_id = first
  if ('last_id' in out) out.last_id = last
  return out
}

/** The cursor to ask the next upstream page with (the upstream's last item), if any. */
export function upstreamCursor (page: ListPage): string | undefined {
  if (page.body.has_more !== true) return undefined
  const ids = itemIds(page)
  const last = typeof page.body.last_id === 'string' ? page.body.last_id : ids[ids.length - 1]
  return last
}
