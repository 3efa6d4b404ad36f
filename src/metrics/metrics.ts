import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Every metric the gateway exports, in one screen. Labels are bounded by design: `key` is
 * a key's name, `model` a priced model name or `other`, `route` a route template, `status`
 * the HTTP status; never request ids, raw paths or user strings.
 */
export function createMetrics (registry: Registry = new Registry(), options: { defaultMetrics?: boolean } = {}) {
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry })
  const registers = [registry]
  return {
    registry,
    requests: new Counter({ name: 'gateway_requests_total', help: 'Requests answered, by route, model, key and HTTP status.', labelNames: ['route', 'model', 'key', 'status'] as const, registers }),
    duration: new Histogram({
      name: 'gateway_request_duration_seconds',
      help: 'Time from request to the last byte sent, by route and model.',
      labelNames: ['route', 'model'] as const,
      // LLM answers take from milliseconds (cache hits) to many minutes (long reasoning streams).
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
      registers
    }),
    ttfb: new Histogram({
      name: 'gateway_upstream_ttfb_seconds',
      help: 'Time from request to the upstream response headers, by route and model.',
      labelNames: ['route', 'model'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60],
      registers
    }),
    tokens: new Counter({ name: 'gateway_tokens_total', help: 'Tokens metered, by model, key and type (cached_input is part of input, reasoning part of output).', labelNames: ['model', 'key', 'type'] as const, registers }),
    cost: new Counter({ name: 'gateway_cost_usd_total', help: 'Upstream cost in USD, by model and key.', labelNames: ['model', 'key'] as const, registers }),
    cacheRequests: new Counter({ name: 'gateway_cache_requests_total', help: 'Cacheable requests by cache result.', labelNames: ['result'] as const, registers }),
    cacheSaved: new Counter({ name: 'gateway_cache_saved_usd_total', help: 'USD not spent upstream thanks to cache hits, by model and key.', labelNames: ['model', 'key'] as const, registers }),
    cacheErrors: new Counter({ name: 'gateway_cache_errors_total', help: 'Cache store operations that failed (served as misses).', labelNames: ['op'] as const, registers }),
    rateLimited: new Counter({ name: 'gateway_rate_limited_total', help: 'Requests refused by a limit, by key and limit.', labelNames: ['key', 'limit'] as const, registers }),
    limiterErrors: new Counter({ name: 'gateway_limiter_errors_total', help: 'Limit checks that could not reach the store (served per LIMITS_FAIL_MODE).', registers }),
    activeStreams: new Gauge({ name: 'gateway_active_streams', help: 'Streams being relayed now.', registers }),
    unpriced: new Counter({ name: 'gateway_unpriced_requests_total', help: 'Requests with tokens but no price for their model.', labelNames: ['model'] as const, registers }),
    estimated: new Counter({ name: 'gateway_estimated_usage_total', help: 'Requests whose usage was estimated because the upstream reported none.', labelNames: ['model', 'reason'] as const, registers }),
    upstreamErrors: new Counter({ name: 'gateway_upstream_errors_total', help: 'Upstream failures: unreachable, timeout, broken stream.', labelNames: ['route', 'kind'] as const, registers }),
    budget: new Gauge({ name: 'gateway_budget_usd', help: 'Budget of each key with one, by key and period (set by the limits feature).', labelNames: ['key', 'period'] as const, registers }),
    budgetSpent: new Gauge({ name: 'gateway_budget_spent_usd', help: 'Spend in the current budget period of each key with a budget (as last checked).', labelNames: ['key', 'period'] as const, registers }),
    ledgerErrors: new Counter({ name: 'gateway_ledger_errors_total', help: 'Spend ledger writes that failed and were buffered for retry.', registers }),
    ledgerBuffered: new Gauge({ name: 'gateway_ledger_buffered_records', help: 'Usage records waiting for the ledger to come back.', registers }),
    upstreamRequests: new Counter({ name: 'gateway_upstream_requests_total', help: 'Attempts sent to each upstream, by outcome.', labelNames: ['upstream', 'outcome'] as const, registers }),
    upstreamRetries: new Counter({ name: 'gateway_upstream_retries_total', help: 'Attempts retried after an upstream failed, by the upstream that failed and why.', labelNames: ['upstream', 'reason'] as const, registers }),
    upstreamUp: new Gauge({ name: 'gateway_upstream_up', help: '1 while an upstream takes traffic, 0 while it is in cooldown.', labelNames: ['upstream'] as const, registers }),
    teamCost: new Counter({ name: 'gateway_team_cost_usd_total', help: 'Upstream cost in USD of team keys, by team and model.', labelNames: ['team', 'model'] as const, registers }),
    budgetRemaining: new Gauge({ name: 'gateway_budget_remaining_usd', help: 'Budget left in the current period, for keys and teams with a budget.', labelNames: ['scope', 'name'] as const, registers })
  }
}

export type Metrics = ReturnType<typeof createMetrics>
