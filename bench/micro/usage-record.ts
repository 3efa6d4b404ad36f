import { usageRecord } from '../../src/metering/interceptor.js'
import { createPriceTable, type PricedModel } from '../../src/metering/pricing.js'
import type { UsageRecord } from '../../src/metering/record.js'
import type { GatewayRequest, UsageSummary } from '../../src/proxy/interceptor.js'
import { group } from './harness.js'

type Req = GatewayRequest
type Key = { id: string, name: string }

/** The record as it was built with the team fields spread in first. */
function spreadFirst (req: Req, u: UsageSummary, priced: PricedModel, key: Key, hit: boolean): UsageRecord {
  const mine = key.id === req.principal.id
  const team = { teamId: mine ? req.principal.teamId : null, teamName: mine ? req.principal.teamName : null }
  return { ...team, keyId: key.id, keyName: key.name, model: priced.model, label: priced.label, route: req.route, inputTokens: u.inputTokens, cachedInputTokens: u.cachedInputTokens, outputTokens: u.outputTokens, reasoningTokens: u.reasoningTokens, costNanos: hit ? 0 : u.costNanos, cacheHit: hit, savedNanos: 0, estimated: u.estimated, priced: u.priced, latencyMs: performance.now() - req.startedAt, atMs: Date.now() }
}

/** The same fields as one plain literal. */
function plain (req: Req, u: UsageSummary, priced: PricedModel, key: Key, hit: boolean): UsageRecord {
  const mine = key.id === req.principal.id
  return { teamId: mine ? req.principal.teamId : null, teamName: mine ? req.principal.teamName : null, keyId: key.id, keyName: key.name, model: priced.model, label: priced.label, route: req.route, inputTokens: u.inputTokens, cachedInputTokens: u.cachedInputTokens, outputTokens: u.outputTokens, reasoningTokens: u.reasoningTokens, costNanos: hit ? 0 : u.costNanos, cacheHit: hit, savedNanos: 0, estimated: u.estimated, priced: u.priced, latencyMs: performance.now() - req.startedAt, atMs: Date.now() }
}

/**
 * The one usage record of every metered request. On Node 20 (V8 11.3) an object literal
 * that begins with a spread and adds fields after it leaves the fast path: each field
 * added is a slow property store on a fresh map, tens of µs per record, and garbage.
 */
export function usageRecordBench (timeMs?: number): string {
  const priced = createPriceTable({}).resolve('gpt-5.2-chat-latest')
  const req = { id: 'req_1', method: 'POST', route: '/v1/chat/completions', path: '/chat/completions', headers: {}, startedAt: performance.now(), principal: { id: 'key_1', name: 'bench', teamId: null, teamName: null }, body: undefined, json: undefined, model: 'gpt-5.2-chat-latest', stream: false } satisfies Req
  const u: UsageSummary = { model: priced.model, label: priced.label, inputTokens: 12, cachedInputTokens: 0, outputTokens: 9, reasoningTokens: 0, costNanos: 147_000, estimated: false, priced: true }
  const key = { id: 'key_1', name: 'bench' }
  return group('Usage record of a request', [
    { name: 'before: { ...team, keyId, … } (spread first)', fn: () => spreadFirst(req, u, priced, key, false) },
    { name: 'one plain literal', fn: () => plain(req, u, priced, key, false) },
    { name: 'usageRecord (src/metering/interceptor.ts as built)', fn: () => usageRecord(req, u, priced, key, false) }
  ], timeMs)
}
