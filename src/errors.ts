/**
 * The closed catalogue of errors the gateway itself produces. Each entry fixes the HTTP
 * status, OpenAI's `type` and `code`, and a message template (`%s` placeholders). One
 * error handler renders every one of them as `{"error":{message,type,param,code}}`.
 * Upstream errors never pass through here: they are relayed as the upstream sent them.
 */

interface ErrorSpec {
  readonly status: number
  readonly type: string
  readonly code: string | null
  readonly message: string
  /** Extra response headers (e.g. `x-should-retry: false`). */
  readonly headers?: Readonly<Record<string, string>>
}

export const catalogue = {
  GW_ERR_INVALID_API_KEY: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided: %s. Ask your gateway admin for a key.' },
  GW_ERR_MISSING_API_KEY: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key', message: 'You didn\'t provide an API key. Send it as "Authorization: Bearer sk-…".' },
  GW_ERR_MODEL_NOT_ALLOWED: { status: 403, type: 'invalid_request_error', code: 'model_not_allowed', message: 'This key may not use the model %s.' },
  GW_ERR_INVALID_JSON: { status: 400, type: 'invalid_request_error', code: null, message: 'We could not parse the JSON body of your request: %s' },
  GW_ERR_BODY_NOT_OBJECT: { status: 400, type: 'invalid_request_error', code: null, message: 'The request body must be a JSON object.' },
  GW_ERR_MISSING_MODEL: { status: 400, type: 'invalid_request_error', code: null, message: 'you must provide a model parameter' },
  GW_ERR_BAD_REQUEST: { status: 400, type: 'invalid_request_error', code: null, message: '%s' },
  GW_ERR_BODY_TOO_LARGE: { status: 413, type: 'invalid_request_error', code: 'request_too_large', message: 'The request body is larger than the gateway accepts (%s bytes).' },
  GW_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, type: 'invalid_request_error', code: null, message: 'Unsupported content type: %s' },
  GW_ERR_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'not_found', message: 'Unknown route: %s %s' },
  GW_ERR_RATE_LIMITED: { status: 429, type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for %s on this key: %s. Please try again in %s.' },
  GW_ERR_BUDGET_EXCEEDED: { status: 429, type: 'insufficient_quota', code: 'insufficient_quota', message: 'This key has spent its %s budget of $%s. Ask your gateway admin to raise it.', headers: { 'x-should-retry': 'false' } },
  GW_ERR_UPSTREAM_UNAVAILABLE: { status: 502, type: 'api_error', code: 'upstream_unavailable', message: 'The upstream API could not be reached (%s).' },
  GW_ERR_UPSTREAM_TIMEOUT: { status: 504, type: 'api_error', code: 'upstream_timeout', message: 'The upstream API sent no response headers within %s ms.' },
  GW_ERR_UPSTREAM_NOT_CONFIGURED: { status: 503, type: 'api_error', code: 'upstream_not_configured', message: 'The gateway has no upstream key: set UPSTREAM_API_KEY.', headers: { 'x-should-retry': 'false' } },
  GW_ERR_LIMITS_UNAVAILABLE: { status: 503, type: 'api_error', code: 'limits_unavailable', message: 'Rate limits cannot be checked right now (store unreachable) and the gateway is set to fail closed.' },
  GW_ERR_ADMIN_DISABLED: { status: 403, type: 'invalid_request_error', code: 'admin_disabled', message: 'The admin API is disabled: start the gateway with ADMIN_KEY set to enable it.' },
  GW_ERR_ADMIN_UNAUTHORIZED: { status: 401, type: 'invalid_request_error', code: 'invalid_admin_key', message: 'Missing or wrong admin key.' },
  GW_ERR_METRICS_UNAUTHORIZED: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key', message: 'Metrics need the metrics token (or the admin key) as a bearer token.' },
  GW_ERR_KEY_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'not_found', message: 'No key with id %s.' },
  GW_ERR_KEY_NAME_TAKEN: { status: 409, type: 'invalid_request_error', code: 'conflict', message: 'A key named %s exists already.' },
  GW_ERR_KEY_REVOKED: { status: 409, type: 'invalid_request_error', code: 'key_revoked', message: 'Key %s is revoked; create a new key instead.' },
  GW_ERR_KEY_READ_ONLY: { status: 409, type: 'invalid_request_error', code: 'read_only', message: 'Key %s is declared in the config file and cannot be changed here.' },
  GW_ERR_STORE_UNAVAILABLE: { status: 503, type: 'api_error', code: 'store_unavailable', message: 'The key store is unreachable: %s' },
  GW_ERR_LEDGER_UNAVAILABLE: { status: 503, type: 'api_error', code: 'store_unavailable', message: 'The spend ledger is unreachable (%s); spend is buffered and written when it is back.' },
  GW_ERR_SHUTTING_DOWN: { status: 503, type: 'api_error', code: 'shutting_down', message: 'The gateway is shutting down.' },
  GW_ERR_MODEL_NOT_SERVED: { status: 404, type: 'invalid_request_error', code: 'model_not_found', message: 'No upstream of this gateway serves the model %s.' },
  // The key as a boundary.
  GW_ERR_INVALID_PATH: { status: 400, type: 'invalid_request_error', code: 'invalid_path', message: 'The request path is not canonical: %s' },
  GW_ERR_DUPLICATE_FIELD: { status: 400, type: 'invalid_request_error', code: 'duplicate_field', message: 'The field %s is given more than once in the request body.' },
  GW_ERR_ROUTE_NOT_ALLOWED: { status: 403, type: 'invalid_request_error', code: 'route_not_allowed', message: 'This key may not call %s.' },
  GW_ERR_MODEL_NOT_PRICED: { status: 403, type: 'invalid_request_error', code: 'model_not_priced', message: 'The model %s has no price in this gateway, so a budgeted key may not use it. Ask your gateway admin to add it to the pricing table.' },
  GW_ERR_OBJECT_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'not_found', message: 'No such %s: %s' },
  GW_ERR_UPSTREAM_BROKEN: { status: 502, type: 'api_error', code: 'upstream_error', message: 'The upstream API broke off its answer (%s); the request may still have been billed upstream, so the gateway did not retry it.' },
  GW_ERR_UPSTREAM_REDIRECT: { status: 502, type: 'api_error', code: 'upstream_redirect', message: 'The upstream API answered with a redirect, which the gateway does not follow.' },
  GW_ERR_OBJECTS_UNAVAILABLE: { status: 503, type: 'api_error', code: 'store_unavailable', message: 'Object ownership cannot be checked right now (store unreachable); nothing was sent upstream.' },
  // Resources.
  GW_ERR_BODY_TOO_COMPLEX: { status: 400, type: 'invalid_request_error', code: 'body_too_complex', message: 'The JSON body is too complex: %s.' },
  GW_ERR_PARSING_BUSY: { status: 503, type: 'api_error', code: 'overloaded', message: 'The gateway is parsing too many large bodies at once; retry shortly.', headers: { 'retry-after': '1' } },
  GW_ERR_REQUEST_TIMEOUT: { status: 408, type: 'invalid_request_error', code: 'request_timeout', message: 'The request did not arrive in time.' },
  GW_ERR_HEADERS_TOO_LARGE: { status: 431, type: 'invalid_request_error', code: 'headers_too_large', message: 'The request headers are too large.' },
  GW_ERR_ADMIN_THROTTLED: { status: 429, type: 'invalid_request_error', code: 'rate_limit_exceeded', message: 'Too many failed admin authentications from this address; try again in a minute.', headers: { 'retry-after': '60' } },
  // Teams, rotation, usage API.
  GW_ERR_TEAM_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'not_found', message: 'No team with id %s.' },
  GW_ERR_TEAM_NAME_TAKEN: { status: 409, type: 'invalid_request_error', code: 'conflict', message: 'A team named %s exists already.' },
  GW_ERR_TEAM_NOT_EMPTY: { status: 409, type: 'invalid_request_error', code: 'team_not_empty', message: 'Team %s still has keys that are not revoked; revoke them or move them first.' },
  GW_ERR_CLIENT_KEY_FORBIDDEN: { status: 403, type: 'invalid_request_error', code: 'admin_key_required', message: 'This route needs the admin key, not a client key.' },
  // Budgets and token limits under concurrency.
  GW_ERR_TEAM_BUDGET_EXCEEDED: { status: 429, type: 'insufficient_quota', code: 'insufficient_quota', message: 'The team %s has spent its %s budget of $%s. Ask your gateway admin to raise it.', headers: { 'x-should-retry': 'false' } },
  GW_ERR_BUDGET_RESERVED: { status: 429, type: 'insufficient_quota', code: 'insufficient_quota', message: 'This request could cost up to $%s, more than is left of %s %s budget of $%s ($%s spent, $%s held by requests in flight). Send a lower max_tokens, or retry when those have finished.', headers: { 'x-should-retry': 'false' } },
  GW_ERR_TEAM_RATE_LIMITED: { status: 429, type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for %s on the team %s: %s. Please try again in %s.' },
  GW_ERR_INTERNAL: { status: 500, type: 'api_error', code: 'internal_error', message: 'The gateway failed unexpectedly; the request id is in x-request-id.' },
  GW_ERR_CLIENT_CLOSED: { status: 499, type: 'api_error', code: 'client_closed', message: 'The client closed the connection before the answer (never sent: it is for the log line).' }
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof catalogue

/** Longest argument a message quotes: a client's 156 KB model name is not echoed back whole. */
const MAX_ARG_CHARS = 1000

function clip (s: string): string {
  return s.length > MAX_ARG_CHARS ? s.slice(0, MAX_ARG_CHARS) + '…' : s
}

/** An error from the catalogue; `param` names the offending field when there is one. */
export class GatewayError extends Error {
  override name = 'GatewayError'
  readonly status: number
  readonly type: string
  readonly openaiCode: string | null
  readonly param: string | null
  /** Headers to send with the error (catalogue headers plus e.g. retry-after). */
  readonly headers: Record<string, string>

  constructor (readonly code: ErrorCode, args: ReadonlyArray<string | number> = [], options: { param?: string | null, headers?: Record<string, string>, type?: string, cause?: unknown } = {}) {
    const spec: ErrorSpec = catalogue[code]
    let i = 0
    super(spec.message.replace(/%s/g, () => clip(String(args[i++] ?? ''))), { cause: options.cause })
    this.status = spec.status
    this.type = options.type ?? spec.type
    this.openaiCode = spec.code
    this.param = options.param ?? null
    this.headers = { ...spec.headers, ...options.headers }
  }

  /** OpenAI's error body. */
  toJSON (): { error: { message: string, type: string, param: string | null, code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.openaiCode } }
  }
}

/** Shorthand: `throw gatewayError('GW_ERR_MODEL_NOT_ALLOWED', [model])`. */
export function gatewayError (code: ErrorCode, args: ReadonlyArray<string | number> = [], options?: ConstructorParameters<typeof GatewayError>[2]): GatewayError {
  return new GatewayError(code, args, options)
}

/** Fastify's own errors that reach our handler, mapped to the catalogue. */
const fastifyErrors: Record<string, (err: Error & { code?: string }, limit: number) => GatewayError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (_e, limit) => gatewayError('GW_ERR_BODY_TOO_LARGE', [limit]),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (_e, limit) => gatewayError('GW_ERR_BODY_TOO_LARGE', [limit]),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => gatewayError('GW_ERR_INVALID_JSON', ['the body is empty']),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) => gatewayError('GW_ERR_UNSUPPORTED_MEDIA_TYPE', [e.message]),
  FST_ERR_CTP_INVALID_JSON_BODY: (e) => gatewayError('GW_ERR_INVALID_JSON', [e.message]),
  FST_ERR_BAD_URL: () => gatewayError('GW_ERR_BAD_REQUEST', ['The URL is malformed.']),
  // Node's error for a body the client stopped sending ("aborted"); any other reset is ours.
  ECONNRESET: (e) => e.message === 'aborted' ? gatewayError('GW_ERR_CLIENT_CLOSED') : gatewayError('GW_ERR_INTERNAL', [], { cause: e })
}

/** Any thrown value → a GatewayError (unknown errors become GW_ERR_INTERNAL). */
export function toGatewayError (err: unknown, bodyLimit: number): GatewayError {
  if (err instanceof GatewayError) return err
  const e = err as Error & { code?: string, statusCode?: number }
  const mapped = e?.code !== undefined ? fastifyErrors[e.code] : undefined
  if (mapped) return mapped(e, bodyLimit)
  if (e?.statusCode === 400 || (e instanceof SyntaxError)) return gatewayError('GW_ERR_INVALID_JSON', [e.message])
  return gatewayError('GW_ERR_INTERNAL', [], { cause: err })
}
