import { describe, expect, it } from 'vitest'
import { canonicalTarget } from '../../src/proxy/canonical-path.js'

const ok = (raw: string) => {
  const r = canonicalTarget(raw)
  if (!r.ok) throw new Error(`${raw} refused: ${r.reason}`)
  return r.url
}
const reason = (raw: string) => {
  const r = canonicalTarget(raw)
  return r.ok ? undefined : r.reason
}

describe('canonical request targets', () => {
  it.each([
    ['/v1/chat/completions', '/v1/chat/completions'],
    ['/v1/chat/completions/', '/v1/chat/completions'],
    ['/v1/models/?limit=2', '/v1/models?limit=2'],
    ['/', '/'],
    ['/v1', '/v1'],
    ['/v1/', '/v1'],
    // Legitimate escapes are kept as they came, in their case.
    ['/v1/models/ft%3Agpt-4o%3Aacme', '/v1/models/ft%3Agpt-4o%3Aacme'],
    ['/v1/files/a%20b', '/v1/files/a%20b'],
    ['/v1/x/%E2%82%AC', '/v1/x/%E2%82%AC'],
    ['/v1/x/%3b', '/v1/x/%3b'],
    // Dots inside a segment are not dot segments.
    ['/v1/models/gpt-5.2', '/v1/models/gpt-5.2'],
    ['/v1/x/...', '/v1/x/...'],
    ['/v1/x/.a', '/v1/x/.a'],
    ['/v1/x/a..', '/v1/x/a..'],
    ['/v1/x/%2e%2e%2e', '/v1/x/%2e%2e%2e'],
    // The query is never touched, whatever it holds.
    ['/v1/files?a=/../b&c=%2f;d//e', '/v1/files?a=/../b&c=%2f;d//e'],
    ['/v1/files/?', '/v1/files?']
  ])('%s → %s', (raw, url) => {
    expect(ok(raw)).toBe(url)
  })

  it('splits path and query', () => {
    expect(canonicalTarget('/v1/responses/abc/?stream=true')).toEqual({ ok: true, url: '/v1/responses/abc?stream=true', path: '/v1/responses/abc', query: '?stream=true' })
  })

  it.each([
    // Dot segments, raw and encoded in every case, anywhere, trailing included.
    ['/v1/../x', 'dot segment'],
    ['/v1/./chat/completions', 'dot segment'],
    ['/v1/chat/completions/.', 'dot segment'],
    ['/v1/chat/completions/./', 'dot segment'],
    ['/v1/x/..', 'dot segment'],
    ['/v1/%2e%2e/x', 'dot segment'],
    ['/v1/%2E%2E/x', 'dot segment'],
    ['/v1/.%2E/admin', 'dot segment'],
    ['/v1/%2e./admin', 'dot segment'],
    ['/v1/%2e/x', 'dot segment'],
    ['/..', 'dot segment'],
    ['/.', 'dot segment'],
    // Encoded separators and backslashes.
    ['/v1/..%2fx', 'encoded slash'],
    ['/v1/chat%2Fcompletions', 'encoded slash'],
    ['/v1/chat%5ccompletions', 'encoded backslash'],
    ['/v1/chat%5Ccompletions', 'encoded backslash'],
    ['/v1\\..\\x', 'backslash'],
    ['/v1/chat\\completions', 'backslash'],
    // Empty segments.
    ['//v1/chat/completions', 'empty path segment'],
    ['/v1//chat/completions', 'empty path segment'],
    ['/v1/chat/completions//', 'empty path segment'],
    ['//', 'empty path segment'],
    ['//evil.example/v1', 'empty path segment'],
    // Parameters and fragments.
    ['/v1/chat/completions;x', '";" parameter'],
    ['/v1/responses;jsessionid=1/abc', '";" parameter'],
    ['/v1/x#frag', 'fragment'],
    // Controls, raw and encoded, and raw bytes outside printable ASCII.
    ['/v1/x%00', 'encoded control character'],
    ['/v1/x%0a', 'encoded control character'],
    ['/v1/x%0D', 'encoded control character'],
    ['/v1/x%1f', 'encoded control character'],
    ['/v1/x%7F', 'encoded control character'],
    ['/v1/x\u0000', 'control or non-ASCII character'],
    ['/v1/x\t', 'control or non-ASCII character'],
    ['/v1/x y', 'control or non-ASCII character'],
    ['/v1/x\u007f', 'control or non-ASCII character'],
    ['/v1/\u00e9', 'control or non-ASCII character'],
    // Malformed escapes.
    ['/v1/x%', 'malformed percent-escape'],
    ['/v1/x%4', 'malformed percent-escape'],
    ['/v1/x%zz/y', 'malformed percent-escape'],
    ['/v1/x%4g', 'malformed percent-escape']
  ])('%s is refused (%s)', (raw, why) => {
    expect(reason(raw)).toBe(why)
  })

  it.each([
    'http://evil.example/v1/chat/completions',
    'https://api.cometapi.com/v1/models',
    '*',
    'v1/models',
    ''
  ])('absolute-form and other non-origin targets are refused: %s', (raw) => {
    expect(reason(raw)).toMatch(/must be a path/)
  })

  it('every spelling of a one- or two-dot segment is refused, wherever it stands', () => {
    const dot = ['.', '%2e', '%2E']
    const spellings = [...dot, ...dot.flatMap((a) => dot.map((b) => a + b))]
    expect(spellings).toHaveLength(12)
    for (const s of spellings) {
      for (const raw of [`/${s}`, `/v1/${s}`, `/v1/${s}/x`, `/v1/${s}/`, `/v1/x/${s}?a=1`]) {
        expect(reason(raw), raw).toBe('dot segment')
      }
    }
  })

  it('every byte, raw and encoded, is judged by one rule', () => {
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).padStart(2, '0')
      for (const enc of [hex, hex.toUpperCase()]) {
        const r = canonicalTarget(`/v1/a%${enc}b`)
        const refused = b < 0x20 || b === 0x7f || b === 0x2f || b === 0x5c
        expect(r.ok, `%${enc}`).toBe(!refused)
        if (r.ok) expect(r.url).toBe(`/v1/a%${enc}b`)
      }
      const raw = canonicalTarget(`/v1/a${String.fromCharCode(b)}b`)
      // `/`, `?` split the target (not a byte of the segment); `%` starts a (here malformed) escape.
      if (b === 0x2f || b === 0x3f) continue
      const printable = b > 0x20 && b < 0x7f && b !== 0x5c && b !== 0x3b && b !== 0x23 && b !== 0x25
      expect(raw.ok, `raw 0x${hex}`).toBe(printable)
    }
  })
})
