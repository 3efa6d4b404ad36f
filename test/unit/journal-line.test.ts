import { describe, expect, it } from 'vitest'
import { fromLine, toLine } from '../../src/metering/journal.js'
import type { UsageRecord } from '../../src/metering/record.js'

const base: UsageRecord = { keyId: 'key_1', keyName: 'bench', teamId: null, model: 'gpt-5.2', label: 'gpt-5.2', route: '/v1/chat/completions', inputTokens: 1000, cachedInputTokens: 600, outputTokens: 500, reasoningTokens: 200, costNanos: 6_265_000, cacheHit: false, savedNanos: 0, estimated: false, priced: true, latencyMs: 12, atMs: 1_764_633_600_123 }

/** The line as the journal wrote it before it was built by hand. */
function reference (r: UsageRecord): string {
  return JSON.stringify([r.keyId, r.keyName, r.teamId ?? null, r.model, r.inputTokens, r.cachedInputTokens, r.outputTokens, r.reasoningTokens, r.costNanos, r.cacheHit ? 1 : 0, r.savedNanos, r.estimated ? 1 : 0, r.atMs]) + '\n'
}

describe('journal line', () => {
  it('is byte for byte JSON.stringify of the fields, whatever the strings hold, and reads back', () => {
    const records: UsageRecord[] = [
      base,
      { ...base, teamId: 'team_a', teamName: 'A' },
      { ...base, keyName: 'quote " back \\ slash \n newline', model: 'émoji 🚀 \u2028 model' },
      { ...base, cacheHit: true, savedNanos: 42, costNanos: 0, estimated: true },
      { ...base, inputTokens: Number.NaN, outputTokens: Number.POSITIVE_INFINITY, costNanos: 2 ** 53 - 1 },
      // Same strings as an earlier record after different ones: the encoded prefix is not stale.
      base,
      { ...base, teamId: undefined }
    ]
    for (const r of records) {
      expect(toLine(r)).toBe(reference(r))
      const back = fromLine(toLine(r).trimEnd())!
      expect([back.keyId, back.keyName, back.teamId, back.model, back.costNanos]).toEqual([r.keyId, r.keyName, r.teamId ?? null, r.model, Number.isFinite(r.costNanos) ? r.costNanos : 0])
    }
  })
})
