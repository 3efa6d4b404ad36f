/**
 * Usage extraction, one pure function per wire shape (OpenAI's wire formats, and the README's
 * "Pricing and metering"). All return tokens in the gateway's four classes, with the
 * meaning of `/admin/usage`: `cached` is part of `input`, `reasoning` part of `output`.
 */

export interface TokenUsage {
  /** All input tokens, cached included (OpenAI's `prompt_tokens` / `input_tokens`). */
  readonly input: number
  /** The cached part of `input`. */
  readonly cached: number
  /** All output tokens, reasoning included. */
  readonly output: number
  /** The reasoning part of `output`. */
  readonly reasoning: number
}

type Obj = Record<string, unknown>

function obj (v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Obj : undefined
}

/** A token count: a non-negative integer, or 0 for anything else (null, missing, junk). */
function count (v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0
}

/**
 * A `usage` object of either shape:
 * - chat / embeddings: `prompt_tokens`, `prompt_tokens_details.cached_tokens`,
 *   `completion_tokens`, `completion_tokens_details.reasoning_tokens`;
 * - responses: `input_tokens`, `input_tokens_details.cached_tokens`, `output_tokens`,
 *   `output_tokens_details.reasoning_tokens`.
 * Undefined when it is not a usage object. Parts larger than their whole are clamped.
 */
export function normalizeUsage (usage: unknown): TokenUsage | undefined {
  const u = obj(usage)
  if (u === undefined) return undefined
  let input: number, cached: number, output: number, reasoning: number
  if ('input_tokens' in u || 'output_tokens' in u) {
    input = count(u.input_tokens)
    cached = count(obj(u.input_tokens_details)?.cached_tokens)
    output = count(u.output_tokens)
    reasoning = count(obj(u.output_tokens_details)?.reasoning_tokens)
  } else if ('prompt_tokens' in u || 'completion_tokens' in u) {
    input = count(u.prompt_tokens)
    cached = count(obj(u.prompt_tokens_details)?.cached_tokens)
    output = count(u.completion_tokens)
    reasoning = count(obj(u.completion_tokens_details)?.reasoning_tokens)
  } else {
    return undefined
  }
  return { input, cached: Math.min(cached, input), output, reasoning: Math.min(reasoning, output) }
}

/** A chat completion (`object: "chat.completion"`). */
export function usageFromChatJson (body: unknown): TokenUsage | undefined {
  return normalizeUsage(obj(body)?.usage)
}

/**
 * A chat stream chunk (the parsed `data:` of one event): the usage-only final chunk that
 * `stream_options.include_usage` adds. `choices` may be `[]`, `null` or missing; chunks
 * with `"usage": null` give undefined.
 */
export function usageFromChatChunk (chunk: unknown): TokenUsage | undefined {
  return normalizeUsage(obj(chunk)?.usage)
}

/** A Responses API object (`object: "response"`, or `response.compaction`). */
export function usageFromResponsesJson (body: unknown): TokenUsage | undefined {
  return normalizeUsage(obj(body)?.usage)
}

const TERMINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed', 'response.done'])

/**
 * A Responses stream event (parsed `data:`): usage is in `response.usage` of the
 * terminal event, `response.completed`, `response.incomplete` or `response.failed`
 * (some upstreams say `response.done`). Other events give undefined.
 */
export function usageFromResponsesEvent (event: unknown): TokenUsage | undefined {
  const e = obj(event)
  if (e === undefined || typeof e.type !== 'string' || !TERMINAL_EVENTS.has(e.type)) return undefined
  return normalizeUsage(obj(e.response)?.usage)
}

/**
 * Any other `/v1/*` JSON answer that carries `usage` at its top level (embeddings:
 * `prompt_tokens` only; `/v1/responses/compact`; moderations and the like).
 */
export function usageFromJson (body: unknown): TokenUsage | undefined {
  return normalizeUsage(obj(body)?.usage)
}

/** The last event of a stream of either API: a chat chunk with usage, or a terminal responses event. */
export function usageFromStreamEvent (event: unknown): TokenUsage | undefined {
  const e = obj(event)
  if (e === undefined) return undefined
  return typeof e.type === 'string' && e.type.startsWith('response.') ? usageFromResponsesEvent(e) : usageFromChatChunk(e)
}

const USAGE_KEY = Buffer.from('"usage"')

/**
 * The value of the last `"usage"` key of a JSON body, parsed alone: a chat or responses
 * body puts its top-level usage last, so this skips parsing the (possibly long) output.
 * Inside a JSON string every quote is escaped, so `"usage"` followed by `:` is a key.
 * Undefined when not found or not a plain object; callers then parse the whole body.
 */
export function lastUsageValue (body: Buffer): unknown {
  const at = body.lastIndexOf(USAGE_KEY)
  if (at === -1) return undefined
  let i = at + USAGE_KEY.length
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++
  if (body[i] !== 0x3a) return undefined
  i++
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++
  if (body[i] !== 0x7b) return undefined
  const end = objectEnd(body, i)
  if (end === -1) return undefined
  try {
    return JSON.parse(body.toString('utf8', i, end))
  } catch {
    return undefined
  }
}

/** Index after the `}` closing the object that opens at `start` (strings skipped), or -1. */
function objectEnd (buf: Buffer, start: number): number {
  let depth = 0
  for (let i = start; i < buf.length; i++) {
    const c = buf[i]
    if (c === 0x22) {
      // Skip a string, escapes included.
      for (i++; i < buf.length && buf[i] !== 0x22; i++) if (buf[i] === 0x5c) i++
    } else if (c === 0x7b) {
      depth++
    } else if (c === 0x7d && --depth === 0) {
      return i + 1
    }
  }
  return -1
}

/** True when the usage has any token at all (a record with none is not worth a price check). */
export function hasTokens (u: TokenUsage): boolean {
  return u.input > 0 || u.output > 0
}
