import { createHash } from 'node:crypto'

/**
 * The cache key of a request: SHA-256 (hex) over
 *
 *   method \n path-and-query \n scope \n canonical JSON of the whole body
 *
 * Every field of the body takes part, as the client sent it: `model`, `messages` /
 * `input`, every sampling parameter, `stream` (a stream and a JSON answer are different
 * bytes), `stream_options`, `user`, `metadata`… Two bodies that differ only in key order
 * or whitespace get the same key. Headers do not take part (the upstream's answer does not
 * depend on the ones we forward). The scope is `key:<key id>` by default, or `global`
 * (`CACHE_SCOPE=global`); it is a key's id, never its secret.
 * @example cacheKey({ method: 'POST', path: '/chat/completions', scope: cacheScope('key', ex.key.id), body: ex.json })
 */
export function cacheKey (input: { method: string, path: string, scope: string, body: unknown }): string {
  return createHash('sha256')
    .update(input.method.toUpperCase()).update('\n')
    .update(input.path).update('\n')
    .update(input.scope).update('\n')
    .update(canonicalJson(input.body))
    .digest('hex')
}

/** The scope part of a cache key: the key id, or `global` when answers are shared by every key. */
export function cacheScope (mode: 'key' | 'global', keyId: string): string {
  return mode === 'global' ? 'global' : `key:${keyId}`
}

/**
 * JSON with object keys sorted (by UTF-16 code units, like Array#sort) and no whitespace.
 * Arrays keep their order (it is meaningful: messages). Values JSON cannot hold
 * (undefined, functions) are left out of objects, like JSON.stringify does.
 * Iterative, with its own stack: a client's body is walked here, and recursion would
 * make its nesting depth our call-stack depth.
 * @example canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }) // '{"a":[2,{"c":4,"d":3}],"b":1}'
 */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  let out = ''
  // Each frame: the container, its keys (objects) and the next index to write.
  const stack: Array<{ array: unknown[] | undefined, obj: Record<string, unknown> | undefined, keys: string[], i: number, wrote: boolean }> = []
  const open = (v: object): void => {
    if (Array.isArray(v)) {
      out += '['
      stack.push({ array: v, obj: undefined, keys: [], i: 0, wrote: false })
    } else {
      out += '{'
      stack.push({ array: undefined, obj: v as Record<string, unknown>, keys: Object.keys(v).sort(), i: 0, wrote: false })
    }
  }
  open(value)
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    let next: unknown
    if (top.array !== undefined) {
      if (top.i === top.array.length) {
        out += ']'
        stack.pop()
        continue
      }
      next = top.array[top.i++]
      if (top.wrote) out += ','
      top.wrote = true
      if (next === undefined || typeof next === 'function') next = null
    } else {
      if (top.i === top.keys.length) {
        out += '}'
        stack.pop()
        continue
      }
      const k = top.keys[top.i++]!
      next = top.obj![k]
      if (next === undefined || typeof next === 'function') continue
      if (top.wrote) out += ','
      top.wrote = true
      out += JSON.stringify(k) + ':'
    }
    if (next !== null && typeof next === 'object') open(next)
    else out += JSON.stringify(next) ?? 'null'
  }
  return out
}
