import { describe, expect, it } from 'vitest'
import { toGatewayError } from '../../src/errors.js'
import { clientError, clientErrorResponse } from '../../src/proxy/server-limits.js'

describe('clientErrorResponse', () => {
  it.each([
    ['HPE_HEADER_OVERFLOW', 431, 'headers_too_large'],
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'request_timeout'],
    ['HPE_INVALID_METHOD', 400, null],
    [undefined, 400, null]
  ])('%s is a complete %i answer in OpenAI\'s shape', (code, status, openaiCode) => {
    const text = clientErrorResponse(clientError(code))
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

describe('a body the client stopped sending', () => {
  it('is 499 client_closed in the log, and any other reset stays internal', () => {
    const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' })
    expect(toGatewayError(aborted, 1).code).toBe('GW_ERR_CLIENT_CLOSED')
    const other = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
    expect(toGatewayError(other, 1).code).toBe('GW_ERR_INTERNAL')
  })
})
