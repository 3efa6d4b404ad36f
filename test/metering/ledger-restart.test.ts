import { afterAll, describe, expect, it } from 'vitest'
import { startMockUpstream, type MockUpstream } from '../../src/mock/upstream.js'
import { startGateway, tempDataDir } from '../helpers/gateway.js'
import { removeDir } from '../helpers/redis.js'
import { CHAT, HAND_USD, usage } from './helpers.js'

describe('the embedded (SQLite) ledger', () => {
  const dir = tempDataDir()
  let mock: MockUpstream
  afterAll(async () => {
    await mock.close()
    removeDir(dir)
  })

  it('keeps spend across a gateway restart, buffered spend flushed at close', async () => {
    mock = await startMockUpstream()
    const first = await startGateway({ DATA_DIR: dir }, {}, mock)
    for (let i = 0; i < 3; i++) await first.client().chat.completions.create(CHAT)
    const stream = await first.client().chat.completions.create({ ...CHAT, stream: true })
    for await (const chunk of stream) expect(chunk.object).toBe('chat.completion.chunk')
    // Closed right away: the last records are still buffered and must be flushed by close.
    await first.close()

    const second = await startGateway({ DATA_DIR: dir }, {}, mock)
    try {
      const { body } = await usage(second, '?group_by=key,model')
      expect(body.data).toEqual([expect.objectContaining({ key_name: 'test', model: 'gpt-5.2-chat-latest', requests: 4, input_tokens: 4000, cached_input_tokens: 2400, output_tokens: 2000, reasoning_tokens: 800 })])
      expect(body.total_cost_usd).toBe(4 * HAND_USD)
      await second.client().chat.completions.create(CHAT)
      expect((await usage(second, '?group_by=')).body.total_cost_usd).toBe(5 * HAND_USD)
    } finally {
      await second.close()
    }
  })
})
