import { promisify } from 'node:util'
import { deflateRaw, inflateRaw, constants } from 'node:zlib'
import { z } from 'zod'
import type { UsageSummary } from '../proxy/interceptor.js'

const deflateAsync = promisify(deflateRaw)
const inflateAsync = promisify(inflateRaw)

/** Usage as metered when the entry was stored (optional: hits are metered from the replayed bytes). */
export const storedUsageSchema = z.object({
  model: z.string(),
  inputTokens: z.number(),
  cachedInputTokens: z.number(),
  outputTokens: z.number(),
  reasoningTokens: z.number(),
  costNanos: z.number(),
  estimated: z.boolean(),
  priced: z.boolean()
}) satisfies z.ZodType<Omit<UsageSummary, 'label'>>

export type StoredUsage = z.infer<typeof storedUsageSchema>

/** Everything about a stored answer except its bytes. */
export const entryMetaSchema = z.object({
  /** `body`: a buffered JSON answer; `stream`: the bytes of an SSE stream, replayed as a stream. */
  kind: z.enum(['body', 'stream']),
  status: z.number().int(),
  /** Content type and the few upstream headers worth replaying (see REPLAYED_HEADERS). */
  headers: z.record(z.string(), z.string()),
  /** Epoch milliseconds when stored (for `age` and expiry). */
  storedAt: z.number(),
  /** Seconds the entry is valid for. */
  ttl: z.number().int().positive(),
  usage: storedUsageSchema.optional()
})

export type EntryMeta = z.infer<typeof entryMetaSchema>
export interface CacheEntry extends EntryMeta {
  /** The bytes the client received: the JSON body, or the whole SSE stream. */
  body: Buffer
}

/** Upstream response headers a replay carries; request ids, rate-limit and timing headers are per answer and are not replayed. */
export const REPLAYED_HEADERS = ['content-type', 'openai-model', 'openai-version', 'openai-organization', 'openai-project'] as const

// Layout: magic(1) flags(1) metaLength(uint32 BE) meta(JSON, UTF-8) body(raw or deflated)
const MAGIC = 0xc1
const FLAG_DEFLATE = 1
const HEAD = 6
/** Bodies below this are stored raw: compressing them saves too little to be worth the CPU on every hit. */
const COMPRESS_MIN_BYTES = 2048

/**
 * Serialises an entry. With `compress`, a body of 2 KiB or more is deflated when that
 * saves at least 20% (LLM JSON and SSE usually shrink 4-10x: the chunk envelopes repeat).
 * Compression runs on libuv's thread pool, after the client has its answer.
 */
export async function encodeEntry (entry: CacheEntry, compress: boolean): Promise<Buffer> {
  const { body, ...meta } = entry
  let payload = body
  let flags = 0
  if (compress && body.length >= COMPRESS_MIN_BYTES) {
    const packed = await deflateAsync(body, { level: constants.Z_DEFAULT_COMPRESSION })
    if (packed.length < body.length * 0.8) {
      payload = packed
      flags |= FLAG_DEFLATE
    }
  }
  const metaBytes = Buffer.from(JSON.stringify(meta))
  const head = Buffer.allocUnsafe(HEAD)
  head[0] = MAGIC
  head[1] = flags
  head.writeUInt32BE(metaBytes.length, 2)
  return Buffer.concat([head, metaBytes, payload])
}

/**
 * Reads an entry back; undefined when the bytes are not an entry of this format (an old
 * version, a foreign value): the caller treats that as a miss.
 */
export async function decodeEntry (buf: Buffer): Promise<CacheEntry | undefined> {
  if (buf.length < HEAD || buf[0] !== MAGIC) return undefined
  const metaLength = buf.readUInt32BE(2)
  if (HEAD + metaLength > buf.length) return undefined
  let meta: EntryMeta
  try {
    meta = entryMetaSchema.parse(JSON.parse(buf.toString('utf8', HEAD, HEAD + metaLength)))
  } catch {
    return undefined
  }
  const payload = buf.subarray(HEAD + metaLength)
  const body = (buf[1]! & FLAG_DEFLATE) !== 0 ? await inflateAsync(payload) : payload
  return { ...meta, body }
}

/** The upstream headers a replay carries (content type and the model/version headers). */
export function replayHeaders (h: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of REPLAYED_HEADERS) {
    const v = h[name]
    if (typeof v === 'string') out[name] = v
  }
  return out
}
