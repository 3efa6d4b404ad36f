import { gatewayError } from '../errors.js'

/** The parsed facts of a request body that the request path needs. */
export interface ParsedBody {
  json: Record<string, unknown> | undefined
  model: string | undefined
  stream: boolean
}

const NONE: ParsedBody = { json: undefined, model: undefined, stream: false }

/**
 * Parses a JSON request body once. `required`: the route needs a JSON object with a
 * `model` (chat, responses). Other routes parse JSON bodies when they look like JSON
 * and pass anything else (multipart uploads) untouched.
 * @throws GatewayError 400 for malformed JSON, a non-object, or a missing model.
 */
export function parseRequestBody (body: Buffer | undefined, contentType: string | undefined, required: boolean): ParsedBody {
  const isJson = required || (contentType !== undefined && contentType.includes('json'))
  if (!isJson) return NONE
  if (body === undefined || body.length === 0) {
    if (required) throw gatewayError('GW_ERR_INVALID_JSON', ['the body is empty'])
    return NONE
  }
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw gatewayError('GW_ERR_INVALID_JSON', [(err as Error).message])
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    if (required) throw gatewayError('GW_ERR_BODY_NOT_OBJECT')
    return NONE
  }
  const obj = json as Record<string, unknown>
  const model = obj.model
  if (model !== undefined && typeof model !== 'string') throw gatewayError('GW_ERR_BAD_REQUEST', ['model must be a string'], { param: 'model' })
  if (required && (model === undefined || model === '')) throw gatewayError('GW_ERR_MISSING_MODEL', [], { param: 'model' })
  return { json: obj, model, stream: obj.stream === true }
}
