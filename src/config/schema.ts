import { z } from 'zod'
import { priceEntrySchema } from '../metering/price-entry.js'
import { routesSchema } from '../access/routes.js'

/**
 * The one schema for all configuration: environment variables (upper case, as in
 * in the README) merged over the optional config file (lower-case sections). Every type the
 * rest of the code uses for configuration is inferred from here.
 */

const intFromEnv = (min: number) => z.coerce.number().int().min(min)
const boolFromEnv = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes')

/** One pricing entry (ours in USD per 1M tokens, or LiteLLM's per token), normalised to nano-dollars. */
export const priceSchema = priceEntrySchema

export const budgetPeriodSchema = z.enum(['day', 'month', 'total'])

/** Limits a key may carry; also the shape of `limits.defaults` in the config file. */
export const limitsSchema = z.strictObject({
  rpm: z.number().int().positive().nullable().optional(),
  tpm: z.number().int().positive().nullable().optional(),
  max_concurrency: z.number().int().positive().nullable().optional(),
  budget_usd: z.number().nonnegative().nullable().optional(),
  budget_period: budgetPeriodSchema.optional()
})

/** A read-only key declared in the config file: the secret as `key_sha256`, or as `key` for local use. */
export const fileKeySchema = limitsSchema.extend({
  name: z.string().min(1).max(200),
  key: z.string().min(8).optional(),
  key_sha256: z.string().regex(/^[0-9a-f]{64}$/i, 'must be 64 hex characters').optional(),
  models: z.array(z.string().min(1)).optional(),
  routes: routesSchema.nullable().optional(),
  expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
  cache_ttl_seconds: z.number().int().nonnegative().optional(),
  metadata: z.record(z.string(), z.string()).optional()
}).refine((k) => (k.key === undefined) !== (k.key_sha256 === undefined), {
  message: 'give exactly one of key or key_sha256'
})

/** One upstream of the `upstreams` file section. */
export const upstreamSchema = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[\w.-]+$/, 'letters, digits, `_`, `.` and `-` only'),
  base_url: z.url({ protocol: /^https?$/ }),
  /** The name of the environment variable holding this upstream's key. */
  api_key_env: z.string().min(1).optional(),
  api_key: z.string().min(1).optional(),
  weight: z.number().int().positive().default(1),
  /** Model names and `*` patterns this upstream serves; default every model. */
  models: z.array(z.string().min(1)).optional()
})

export const configSchema = z.strictObject({
  PORT: intFromEnv(0).max(65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  UPSTREAM_BASE_URL: z.url({ protocol: /^https?$/ }).default('https://api.cometapi.com/v1'),
  /** Never logged, never sent to clients; optional so `npm start` runs and says what is missing upstream. */
  UPSTREAM_API_KEY: z.string().min(1).optional(),
  ADMIN_KEY: z.string().min(24, 'must be at least 24 random characters (openssl rand -hex 24)').refine((k) => !/changeme|replaceme|replacewith|placeholder|yourkey|youradminkey|^(admin|password|secret|key|x)+\d*$/.test(k.toLowerCase().replace(/[^a-z0-9]/g, '')), 'is a placeholder: set a random value (openssl rand -hex 24)').optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
  /** Comma list of host:port; chooses Redis Cluster over REDIS_URL. */
  REDIS_CLUSTER_NODES: z.string().regex(/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/, 'must be a comma list of host:port').optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  /** Seconds; 0 = no caching unless a key or a request opts in. */
  CACHE_TTL_SECONDS: intFromEnv(0).default(0),
  /** `key` keeps each key's answers to itself; `global` shares them across keys. */
  CACHE_SCOPE: z.enum(['key', 'global']).default('key'),
  /** Bytes; answers larger than this are not cached. */
  CACHE_MAX_ENTRY_BYTES: intFromEnv(1).default(4 * 1024 * 1024),
  /** Bytes; the embedded (in-process) cache evicts least recently used entries beyond this. */
  CACHE_MEMORY_BYTES: intFromEnv(1).default(256 * 1024 * 1024),
  /** Bytes (32 MiB). */
  MAX_BODY_BYTES: intFromEnv(1).default(33_554_432),
  /** Milliseconds until the upstream's response headers (10 min). */
  UPSTREAM_TIMEOUT_MS: intFromEnv(1).default(600_000),
  /** Milliseconds without a body byte from upstream before the response is ended (5 min). */
  UPSTREAM_BODY_TIMEOUT_MS: intFromEnv(1).default(300_000),
  /** Milliseconds to establish the upstream TCP/TLS connection. */
  UPSTREAM_CONNECT_TIMEOUT_MS: intFromEnv(1).default(10_000),
  /** Keep-alive connections per upstream origin. */
  UPSTREAM_CONNECTIONS: intFromEnv(1).default(256),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_TOKEN: z.string().min(1).optional(),
  LIMITS_FAIL_MODE: z.enum(['open', 'closed']).default('open'),
  /** Milliseconds open requests may take to finish after SIGTERM/SIGINT. */
  DRAIN_TIMEOUT_MS: intFromEnv(0).default(30_000),
  /** Milliseconds a Redis command may take before the request path gives up on it. */
  REDIS_COMMAND_TIMEOUT_MS: intFromEnv(1).default(500),
  /** Trust X-Forwarded-* from a load balancer in front. */
  TRUST_PROXY: boolFromEnv.default(false),

  // The key as a boundary.
  /** Models without a price: `deny_budgeted` refuses them for keys (or teams) with a USD budget. */
  UNPRICED_MODELS: z.enum(['deny_budgeted', 'deny', 'allow']).default('deny_budgeted'),
  /** A JSON or YAML file of prices (ours or LiteLLM's model_prices_and_context_window.json); the config's `pricing` wins over it. */
  PRICING_FILE: z.string().min(1).optional(),

  // Resources: nothing a client or an upstream sends may exhaust memory or stall the loop.
  /** Bytes of request bodies being parsed at once (64 MiB); beyond it 503 with retry-after. */
  MAX_PARSING_BYTES: intFromEnv(1).default(64 * 1024 * 1024),
  /** Bytes of one upstream SSE event (16 MiB); a longer event ends the stream (estimated). */
  MAX_EVENT_BYTES: intFromEnv(1).default(16 * 1024 * 1024),
  /** Bytes of a buffered upstream answer (64 MiB); beyond it the answer is relayed unbuffered. */
  MAX_BUFFERED_BYTES: intFromEnv(1).default(64 * 1024 * 1024),
  /** Milliseconds for a client's whole request (headers and body) to arrive. */
  REQUEST_TIMEOUT_MS: intFromEnv(1).default(60_000),
  /** Milliseconds an idle keep-alive client connection stays open. */
  KEEP_ALIVE_TIMEOUT_MS: intFromEnv(1).default(65_000),

  // Budgets and token limits under concurrency.
  /** Output tokens reserved for a request that gives no max tokens and whose model has no max_output_tokens. */
  RESERVE_OUTPUT_TOKENS: intFromEnv(1).default(4096),

  // Upstreams, retries and fallback.
  /** Further attempts after the first, on another upstream when there is one. */
  UPSTREAM_RETRIES: intFromEnv(0).max(10).default(2),
  /** Failures in a row that put an upstream in cooldown. */
  UPSTREAM_FAILURES_TO_COOLDOWN: intFromEnv(1).default(5),
  /** Milliseconds an upstream in cooldown gets no traffic, before one probe request decides. */
  UPSTREAM_COOLDOWN_MS: intFromEnv(1).default(30_000),

  // Tracing (OpenTelemetry, OTLP over HTTP). Unset: no tracing code on the request path.
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('comet-gateway'),

  // Sections of the config file (GATEWAY_CONFIG). Unknown sections are an error.
  pricing: z.record(z.string().min(1), priceSchema).default({}),
  aliases: z.record(z.string().min(1), z.string().min(1)).default({}),
  keys: z.array(fileKeySchema).default([]),
  limits: z.strictObject({ defaults: limitsSchema.default({}) }).default({ defaults: {} }),
  /** Several upstreams; empty means the one of UPSTREAM_BASE_URL + UPSTREAM_API_KEY, named `default`. */
  upstreams: z.array(upstreamSchema).default([])
})

export type GatewayConfig = z.infer<typeof configSchema>
export type Price = z.infer<typeof priceSchema>
export type Limits = z.infer<typeof limitsSchema>
export type FileKey = z.infer<typeof fileKeySchema>
export type UpstreamConfig = z.infer<typeof upstreamSchema>
export type BudgetPeriod = z.infer<typeof budgetPeriodSchema>
