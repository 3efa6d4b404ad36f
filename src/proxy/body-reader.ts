import { gatewayError, type GatewayError } from '../errors.js'
import { topLevelKeyProblem } from './json-keys.js'
import { readMultipartFields } from './multipart-fields.js'

/**
 * What a request body is, decided by its content, never by its `content-type` alone:
 * an upstream that parses JSON sent as `text/plain` must not be served a body the
 * gateway did not read.
 * - a body that parses as a JSON object is JSON (allow-list, metering, caching, stream
 *   detection), whatever its content-type and method;
 * - a `multipart/form-data` body is read for its `model` and `stream` fields;
 * - anything else is `other` and goes on unread, except on the routes that take JSON
 *   (400) or multipart (400).
 * JSON is judged further: top-level keys must be unique (also under case folding), `stream`
 * a boolean (or null), `model` a non-empty string, and present where the route needs it.
 */

export type BodyKind = 'none' | 'json' | 'multipart' | 'other'

export interface BodyFacts {
  readonly kind: BodyKind
  readonly json: Record<string, unknown> | undefined
  /** `model` as the client wrote it (JSON or multipart field). */
  readonly model: string | undefined
  readonly stream: boolean
}

/** Routes (canonical paths below the base) whose body is a JSON object. */
export const JSON_ROUTES: ReadonlySet<string> = new Set([
  '/chat/completions', '/responses', '/embeddings', '/completions', '/moderations', '/images/generations', '/audio/speech'
])

/** Routes whose body is a multipart form. */
export const MULTIPART_ROUTES: ReadonlySet<string> = new Set([
  '/audio/transcriptions', '/audio/translations', '/images/edits', '/images/variations', '/files'
])

/** Routes where OpenAI requires `model` (`/responses` does not: a stored prompt may supply it). */
export const MODEL_REQUIRED: ReadonlySet<string> = new Set([
  '/chat/completions', '/completions', '/embeddings', '/audio/speech', '/audio/transcriptions', '/audio/translations'
])

export interface ReadOptions {
  /** Canonical path below the base URL, without the query: `/chat/completions`. */
  readonly path: string
  readonly method: string
  readonly contentType: string | undefined
  readonly contentEncoding?: string | undefined
  /**
   * Bounds checked on the bytes before `JSON.parse` (nesting depth, value count);
   * returns the refusal, or undefined when the body may be parsed.
   */
  readonly prescan?: (body: Buffer) => GatewayError | undefined
}

const NONE: BodyFacts = { kind: 'none', json: undefined, model: undefined, stream: false }
const OTHER: BodyFacts = { kind: 'other', json: undefined, model: undefined, stream: false }

/** First byte that is not JSON whitespace, after an optional UTF-8 BOM. */
function firstSignificant (body: Buffer): number {
  let i = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0
  while (i < body.length) {
    const c = body[i]!
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i
    i++
  }
  return -1
}

function isMultipart (contentType: string | undefined): contentType is string {
  return contentType !== undefined && /^\s*multipart\/form-data\s*(;|$)/i.test(contentType)
}

function claimsJson (contentType: string | undefined): boolean {
  return contentType !== undefined && /[/+]json\s*(;|$)/i.test(contentType)
}

/** True when a body is read as JSON whatever its first byte: a JSON route's POST, or a JSON content-type. */
export function jsonWhatever (path: string, method: string, contentType: string | undefined): boolean {
  return (JSON_ROUTES.has(path) && method === 'POST') || claimsJson(contentType)
}

/**
 * Reads a request body once and says what it is: synchronously, except for a multipart
 * body (a Promise), so the JSON path costs no promise per request.
 * @throws GatewayError 400 (invalid JSON, not an object, duplicate or mis-cased key, bad
 * `stream` or `model`, missing `model`, wrong kind of body for the route), 415 for a
 * content-encoded body (the gateway could not read it; the upstream might).
 * @example await readBody(Buffer.from('{"model":"gpt-5"}'), { path: '/responses', method: 'POST', contentType: 'text/plain' }) // kind 'json'
 */
export function readBody (body: Buffer | undefined, opts: ReadOptions): BodyFacts | Promise<BodyFacts> {
  const { path, contentType } = opts
  const jsonRoute = JSON_ROUTES.has(path) && opts.method === 'POST'
  const multipartRoute = MULTIPART_ROUTES.has(path) && opts.method === 'POST'
  if (body === undefined || body.length === 0) {
    if (jsonRoute) throw gatewayError('GW_ERR_INVALID_JSON', ['the body is empty'])
    if (multipartRoute) throw gatewayError('GW_ERR_BAD_REQUEST', ['This route takes a multipart/form-data body.'])
    return NONE
  }
  const encoding = opts.contentEncoding?.trim().toLowerCase()
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') throw gatewayError('GW_ERR_UNSUPPORTED_MEDIA_TYPE', [`content-encoding ${encoding} (send the body uncompressed)`])

  const start = firstSignificant(body)
  const c = start === -1 ? -1 : body[start]
  // Only an object can be JSON here; arrays and scalars are refused on JSON routes below.
  const required = jsonWhatever(path, opts.method, contentType)
  if (c === 0x7b || required) {
    const facts = parseJson(body, start, required, opts)
    if (facts !== undefined) return judge(facts, path, opts.method)
  }
  if (jsonRoute) throw gatewayError('GW_ERR_BODY_NOT_OBJECT')
  if (isMultipart(contentType)) {
    return readMultipartFields(body, contentType).then((fields) => judge({ kind: 'multipart', json: undefined, model: fields.model, stream: multipartStream(fields.stream) }, path, opts.method))
  }
  if (multipartRoute) throw gatewayError('GW_ERR_BAD_REQUEST', ['This route takes a multipart/form-data body.'])
  return OTHER
}

/** The JSON facts, or undefined when the body is not JSON and need not be (`required` false). */
function parseJson (body: Buffer, start: number, required: boolean, opts: ReadOptions): BodyFacts | undefined {
  const refusal = opts.prescan?.(body)
  if (refusal !== undefined) throw refusal
  const text = body.toString('utf8', start === -1 ? 0 : start)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    if (required) throw gatewayError('GW_ERR_INVALID_JSON', [(err as Error).message])
    return undefined
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    if (required) throw gatewayError('GW_ERR_BODY_NOT_OBJECT')
    return undefined
  }
  const problem = topLevelKeyProblem(text)
  if (problem?.kind === 'duplicate') throw gatewayError('GW_ERR_DUPLICATE_FIELD', [problem.key], { param: problem.key })
  if (problem?.kind === 'case') throw gatewayError('GW_ERR_BAD_REQUEST', [`The field ${problem.key} is not spelled in lower case; upstreams read it as ${problem.key.toUpperCase().toLowerCase()}.`], { param: problem.key })
  const json = value as Record<string, unknown>
  const model = json.model
  if (model !== undefined && (typeof model !== 'string' || model === '')) {
    throw gatewayError('GW_ERR_BAD_REQUEST', ['model must be a non-empty string'], { param: 'model' })
  }
  const stream = json.stream
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
    throw gatewayError('GW_ERR_BAD_REQUEST', ['stream must be a boolean'], { param: 'stream' })
  }
  return { kind: 'json', json, model, stream: stream === true }
}

/** A multipart `stream` field: the SDKs send `true` / `false`. */
function multipartStream (value: string | undefined): boolean {
  if (value === undefined || value === 'false') return false
  if (value === 'true') return true
  throw gatewayError('GW_ERR_BAD_REQUEST', ['stream must be true or false'], { param: 'stream' })
}

function judge (facts: BodyFacts, path: string, method: string): BodyFacts {
  if (method === 'POST' && facts.model === undefined && MODEL_REQUIRED.has(path)) throw gatewayError('GW_ERR_MISSING_MODEL', [], { param: 'model' })
  if (facts.kind === 'multipart' && facts.model === '') throw gatewayError('GW_ERR_BAD_REQUEST', ['model must be a non-empty string'], { param: 'model' })
  return facts
}
