/**
 * The one spelling of a request target that every later rule sees. A path either is
 * canonical (after dropping one trailing slash) or is refused: the gateway never tries
 * to repair a path, because any repair it makes differently from the upstream (or from
 * a proxy in front of it) is a way around routing, allow-lists and metering.
 *
 * Refused, in the path part (before `?`):
 * - anything but origin-form (`/…`): absolute-form `http://host/…`, asterisk-form `*`;
 * - a dot segment, also percent-encoded in any case (`.`, `..`, `%2e`, `.%2E`, …);
 * - an encoded slash or backslash (`%2f`, `%5c`) and a raw backslash;
 * - an empty segment (`//`), a `;` parameter, a raw `#`;
 * - a control character, raw or encoded (`%00`–`%1f`, `%7f`), and any raw byte outside
 *   printable ASCII (clients percent-encode; a raw one means something spelled the path
 *   by hand, and upstreams disagree on what it means);
 * - a malformed escape (`%`, `%4`, `%zz`).
 * Other escapes (`%3A` in fine-tuned model ids, `%20`) are legitimate and kept as they
 * came; the query string is kept byte for byte.
 */

export type CanonicalTarget =
  | { readonly ok: true, readonly url: string, readonly path: string, readonly query: string }
  | { readonly ok: false, readonly reason: string }

const refuse = (reason: string): CanonicalTarget => ({ ok: false, reason })

function hexValue (c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const l = c | 0x20
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10
  return -1
}

/**
 * Checks one segment (without slashes). Returns a reason or undefined when it is fine.
 * Works on char codes: this runs for every request, and a regex per rule would scan the
 * path once per rule.
 */
function segmentProblem (seg: string): string | undefined {
  if (seg.length === 0) return 'empty path segment'
  // A segment that decodes to only dots, one or two of them, is a dot segment.
  let dots = 0
  let other = false
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i)
    if (c === 0x25) { // %
      const h = i + 2 < seg.length ? hexValue(seg.charCodeAt(i + 1)) : -1
      const l = h >= 0 ? hexValue(seg.charCodeAt(i + 2)) : -1
      if (l < 0) return 'malformed percent-escape'
      const byte = h * 16 + l
      if (byte === 0x2f) return 'encoded slash'
      if (byte === 0x5c) return 'encoded backslash'
      if (byte < 0x20 || byte === 0x7f) return 'encoded control character'
      if (byte === 0x2e) dots++
      else other = true
      i += 2
      continue
    }
    if (c <= 0x20 || c >= 0x7f) return 'control or non-ASCII character'
    if (c === 0x5c) return 'backslash'
    if (c === 0x3b) return '";" parameter'
    if (c === 0x23) return 'fragment'
    if (c === 0x2e) dots++
    else other = true
  }
  if (!other && dots <= 2) return 'dot segment'
  return undefined
}

/**
 * The canonical form of a raw request target (`req.url` as Node parsed it), or why it
 * is refused.
 * @example canonicalTarget('/v1/models/?limit=2') // { ok: true, url: '/v1/models?limit=2', path: '/v1/models', query: '?limit=2' }
 * @example canonicalTarget('/v1/%2e%2e/admin') // { ok: false, reason: 'dot segment' }
 */
export function canonicalTarget (raw: string): CanonicalTarget {
  if (raw.charCodeAt(0) !== 0x2f) return refuse('the request target must be a path starting with "/"')
  const q = raw.indexOf('?')
  let path = q === -1 ? raw : raw.slice(0, q)
  const query = q === -1 ? '' : raw.slice(q)
  // `//host/…` would be read as an authority by URL parsers: the empty-segment rule below
  // refuses it, as it refuses `//` anywhere.
  if (path.length > 1 && path.charCodeAt(path.length - 1) === 0x2f) {
    path = path.slice(0, -1)
    if (path.length === 1) return refuse('empty path segment')
  }
  if (path.length > 1) {
    let start = 1
    while (start <= path.length) {
      let end = path.indexOf('/', start)
      if (end === -1) end = path.length
      const problem = segmentProblem(path.slice(start, end))
      if (problem !== undefined) return refuse(problem)
      start = end + 1
    }
  }
  return { ok: true, url: path + query, path, query }
}
