import type { TokenUsage } from './usage.js'

/**
 * Usage estimates for streams that ended without usage (client left, upstream broke or
 * sent none). The approximation is OpenAI's rule of thumb, about 4 bytes of UTF-8 text
 * per token: close for English, low for CJK (about 3 bytes a character, often one token
 * each). No tokenizer dependency: a tokenizer per model family would be exact only for
 * OpenAI's models, and the record is marked `estimated` either way.
 */
const BYTES_PER_TOKEN = 4

/** Request fields whose strings are model input (chat, responses, completions, embeddings). */
const INPUT_FIELDS = ['messages', 'input', 'instructions', 'prompt', 'tools', 'functions', 'system'] as const

/**
 * Output bytes kept per stream for the estimate; beyond this the kept part is extrapolated.
 * Kept small: it is held for the whole stream, for every open stream.
 */
export const ESTIMATE_KEEP_BYTES = 64 * 1024

export function tokensFromBytes (bytes: number): number {
  return Math.ceil(bytes / BYTES_PER_TOKEN)
}

/** UTF-8 bytes of every string inside `v` (iterative: request bodies may nest deeply). */
function stringBytes (v: unknown): number {
  let bytes = 0
  const stack: unknown[] = [v]
  while (stack.length > 0) {
    const x = stack.pop()
    if (typeof x === 'string') bytes += Buffer.byteLength(x)
    else if (x !== null && typeof x === 'object') {
      // A loop, not push(...x): token-id arrays may be longer than the argument limit.
      for (const item of Array.isArray(x) ? x : Object.values(x)) if (typeof item !== 'number') stack.push(item)
    }
  }
  return bytes
}

/**
 * Input tokens of a request: the text of its input fields; a body that is not JSON
 * counts whole.
 */
export function estimateInputTokens (json: Readonly<Record<string, unknown>> | undefined, bodyBytes: number): number {
  if (json === undefined) return tokensFromBytes(bodyBytes)
  let bytes = 0
  for (const f of INPUT_FIELDS) if (json[f] !== undefined) bytes += stringBytes(json[f])
  return tokensFromBytes(bytes)
}

type Obj = Record<string, unknown>

/** Text bytes a chat chunk or a responses event carries as output. */
function deltaBytes (event: Obj): number {
  // Responses: `response.output_text.delta`, `….function_call_arguments.delta`, `….reasoning_*.delta`.
  if (typeof event.type === 'string') return typeof event.delta === 'string' && event.type.endsWith('.delta') ? Buffer.byteLength(event.delta) : 0
  let bytes = 0
  const choices = Array.isArray(event.choices) ? event.choices as Obj[] : []
  for (const c of choices) {
    const d = c?.delta as Obj | undefined
    if (d === undefined || d === null) continue
    for (const f of ['content', 'reasoning_content', 'reasoning', 'refusal']) if (typeof d[f] === 'string') bytes += Buffer.byteLength(d[f])
    if (Array.isArray(d.tool_calls)) bytes += stringBytes((d.tool_calls as Obj[]).map((t) => (t?.function as Obj | undefined)?.arguments))
  }
  return bytes
}

/**
 * Output tokens of the stream relayed so far, from the kept chunks (the first
 * `ESTIMATE_KEEP_BYTES` of it); when more was relayed than kept, the kept part's
 * ratio of text to bytes is applied to the rest. Incomplete events are ignored.
 */
export function estimateOutputTokens (kept: readonly Buffer[], keptBytes: number, totalBytes: number): number {
  if (keptBytes === 0) return 0
  const text = Buffer.concat(kept as Buffer[], keptBytes).toString('utf8')
  let bytes = 0
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (!line.startsWith('data:')) continue
    const data = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5)
    if (data.charCodeAt(0) !== 0x7b) continue // `[DONE]` and other non-objects
    try {
      bytes += deltaBytes(JSON.parse(data) as Obj)
    } catch {
      // The cut-off last event of an aborted stream.
    }
  }
  if (totalBytes > keptBytes) bytes = Math.round(bytes * totalBytes / keptBytes)
  return tokensFromBytes(bytes)
}

/** A whole estimate: input from the request, output from what was relayed. */
export function estimateUsage (input: number, output: number): TokenUsage {
  return { input, cached: 0, output, reasoning: 0 }
}
