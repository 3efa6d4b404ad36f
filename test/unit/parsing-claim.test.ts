import { describe, expect, it } from 'vitest'
import { ParsingBudget, ParsingClaim } from '../../src/proxy/json-bounds.js'
import { clientErrorResponse } from '../../src/proxy/server-limits.js'

describe('ParsingClaim', () => {
  it('claims declared bytes and gives them back exactly once', () => {
    const budget = new ParsingBudget(100)
    const a = new ParsingClaim(budget)
    const b = new ParsingClaim(budget)
    expect(a.take(60)).toBe(true)
    expect(b.take(50)).toBe(false)
    expect(b.bytes).toBe(0)
    expect(b.take(40)).toBe(true)
    expect(budget.bytesInUse).toBe(100)
    a.release()
    a.release()
    expect(budget.bytesInUse).toBe(40)
    b.release()
    expect(budget.bytesInUse).toBe(0)
  })

  it('lets a body alone grow past the limit as it arrives, but not beside another', () => {
    const budget = new ParsingBudget(100)
    const alone = new ParsingClaim(budget)
    for (let i = 0; i < 5; i++) expect(alone.take(40)).toBe(true)
    expect(budget.bytesInUse).toBe(200)
    const other = new ParsingClaim(budget)
    expect(other.take(1)).toBe(false)
    alone.release()
    expect(other.take(30)).toBe(true)
    const growing = new ParsingClaim(budget)
    expect(growing.take(60)).toBe(true)
    expect(growing.take(20)).toBe(false)
    expect(growing.bytes).toBe(60)
    other.release()
    growing.release()
    expect(budget.bytesInUse).toBe(0)
  })

  it('takes nothing once released', () => {
    const budget = new ParsingBudget(100)
    const c = new ParsingClaim(budget)
    c.release()
    expect(c.take(10)).toBe(false)
    expect(budget.bytesInUse).toBe(0)
  })
})

describe('clientErrorResponse', () => {
  it.each([
    ['HPE_HEADER_OVERFLOW', 431, 'headers_too_large'],
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'request_timeout'],
    ['HPE_INVALID_METHOD', 400, null],
    [undefined, 400, null]
  ])('%s is a complete %i answer in OpenAI\'s shape', (code, status, openaiCode) => {
    const text = clientErrorResponse(code)
    const [head, body] = text.split('\r\n\r\n') as [string, string]
    const lines = head.split('\r\n')
    expect(lines[0]).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `))
    expect(lines).toContain('content-type: application/json')
    expect(lines).toContain('connection: close')
    expect(lines).toContain(`content-length: ${Buffer.byteLength(body)}`)
    const json = JSON.parse(body) as { error: { message: string, type: string, code: string | null, param: null } }
    expect(json.error.type).toBe('invalid_request_error')
    expect(json.error.code).toBe(openaiCode)
    expect(json.error.param).toBeNull()
    expect(json.error.message.length).toBeGreaterThan(0)
  })
})
