import { describe, expect, it } from 'vitest'
import { globMatch, isModelAllowed, MAX_MODEL_NAME_LENGTH } from '../../src/auth/model-access.js'

describe('isModelAllowed', () => {
  it('matches exact names and * patterns anywhere', () => {
    const list = ['gpt-5.2*', '*-mini', 'claude-*-sonnet*', 'exact']
    expect(isModelAllowed(list, 'gpt-5.2-chat-latest')).toBe(true)
    expect(isModelAllowed(list, 'gpt-4o-mini')).toBe(true)
    expect(isModelAllowed(list, 'claude-3-sonnet-2024')).toBe(true)
    expect(isModelAllowed(list, 'exact')).toBe(true)
    expect(isModelAllowed(list, 'exactly')).toBe(false)
    expect(isModelAllowed(list, 'gpt-4o')).toBe(false)
    expect(isModelAllowed(list, 'claude-sonnet')).toBe(false)
    expect(isModelAllowed(null, 'anything')).toBe(true)
    expect(isModelAllowed([], 'anything')).toBe(true)
    expect(isModelAllowed(['*'], 'anything')).toBe(true)
  })

  it('never lets the prefix and suffix overlap', () => {
    expect(globMatch(['ab', 'ba'], 'aba')).toBe(false)
    expect(globMatch(['ab', 'ba'], 'abba')).toBe(true)
    expect(globMatch(['a', 'b', 'a'], 'aba')).toBe(true)
    expect(globMatch(['a', 'b', 'a'], 'ab')).toBe(false)
    expect(globMatch(['', 'x', 'y', ''], 'yx')).toBe(false)
    expect(globMatch(['', 'x', 'y', ''], 'axbyc')).toBe(true)
  })

  it('refuses over-long names and stays linear on a hostile name', () => {
    const list = ['*-mini*', '*-nano*']
    expect(isModelAllowed(list, 'x-mini' + 'a'.repeat(MAX_MODEL_NAME_LENGTH))).toBe(false)
    // Without the length cap this is the worst case for a backtracking regex; here it is one pass.
    const hostile = '-'.repeat(200) + 'mini'
    expect(isModelAllowed(list, hostile)).toBe(true)
    expect(isModelAllowed(['*-mini*x'], '-mini'.repeat(50))).toBe(false)
  })
})
