import { describe, expect, it } from 'vitest'
import { batchCost, batchPrice, highest, OutputFileUsage, pushInSlices, rise, usageOfBatch, ZERO } from '../../src/ownership/batch-usage.js'
import { createPriceTable } from '../../src/metering/pricing.js'

const line = (input: number, output: number, model = 'gpt-5.2-chat-latest'): string =>
  JSON.stringify({ id: 'r', custom_id: 'c', response: { status_code: 200, body: { model, usage: { prompt_tokens: input, completion_tokens: output, prompt_tokens_details: { cached_tokens: 1 } } } } }) + '\n'

describe('batch usage', () => {
  it('a finished batch object gives its usage and model; a running one nothing', () => {
    const usage = { input_tokens: 100, input_tokens_details: { cached_tokens: 10 }, output_tokens: 50, output_tokens_details: { reasoning_tokens: 5 } }
    expect(usageOfBatch({ status: 'completed', usage, model: 'gpt-5' })).toEqual({ usage: { input: 100, cached: 10, output: 50, reasoning: 5 }, model: 'gpt-5' })
    expect(usageOfBatch({ status: 'in_progress', usage })).toBeUndefined()
    expect(usageOfBatch({ status: 'completed' })).toBeUndefined()
    expect(usageOfBatch({ status: 'completed', usage: { input_tokens: 0, output_tokens: 0 } })).toBeUndefined()
  })

  it('the output file is summed line by line, lines split anywhere across chunks', () => {
    const text = line(10, 5) + 'not json\n' + line(20, 7, 'other') + JSON.stringify({ response: { status_code: 500, body: { error: {} } } }) + '\n' + line(1, 1).trimEnd()
    const bytes = Buffer.from(text)
    for (const size of [1, 7, 64, bytes.length]) {
      const meter = new OutputFileUsage()
      for (let i = 0; i < bytes.length; i += size) meter.push(bytes.subarray(i, i + size))
      expect(meter.finish()).toEqual({ input: 31, cached: 3, output: 13, reasoning: 0 })
      expect(meter.model).toBe('gpt-5.2-chat-latest')
    }
  })

  it('long answers are not parsed whole; a file that arrives at once is metered in slices', async () => {
    const tricky = JSON.stringify({ response: { status_code: 200, body: { model: 'm1', choices: [{ message: { content: '"usage": {"prompt_tokens": 999999} '.repeat(20_000) } }], usage: { prompt_tokens: 7, completion_tokens: 3 } } } }) + '\n'
    const body = Buffer.from(tricky.repeat(3) + line(10, 5))
    const meter = new OutputFileUsage()
    await pushInSlices(meter, body)
    expect(meter.finish()).toEqual({ input: 31, cached: 1, output: 14, reasoning: 0 })
    expect(meter.model).toBe('m1')
  })

  it('the billed mark only rises: a second read of the same total adds nothing', () => {
    const total = { input: 100, cached: 10, output: 50, reasoning: 5 }
    expect(rise(ZERO, total)).toEqual(total)
    expect(rise(total, total)).toEqual(ZERO)
    expect(rise({ input: 40, cached: 10, output: 60, reasoning: 0 }, total)).toEqual({ input: 60, cached: 0, output: 0, reasoning: 5 })
    expect(highest({ input: 40, cached: 10, output: 60, reasoning: 0 }, total)).toEqual({ input: 100, cached: 10, output: 60, reasoning: 5 })
  })

  it('batch rates when the table has them, else the ordinary price; cached at the lower rate', () => {
    const price = createPriceTable({}).resolve('gpt-5.2-chat-latest').price!
    expect(batchPrice(price)).toEqual(price)
    const withBatch = { ...price, batchInput: 700_000_000n, batchOutput: 5_600_000_000n }
    expect(batchPrice(withBatch)).toEqual({ input: 700_000_000n, cachedInput: 175_000_000n, output: 5_600_000_000n })
    // 1M input (0 cached) at $0.70 + 1M output at $5.60
    expect(batchCost({ input: 1_000_000, cached: 0, output: 1_000_000, reasoning: 0 }, withBatch)).toBe(6_300_000_000)
    expect(batchPrice({ ...price, batchInput: 100_000_000n })).toMatchObject({ cachedInput: 100_000_000n })
  })
})
