import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { readSnippets, run, runNodeSnippet, type RunResult } from './snippets.js'

/**
 * Every snippet of docs/clients.md, run as written against a real gateway in front of the
 * bundled mock upstream: the Node ones with the SDK versions of package.json, the curl ones
 * with the shell, and the Python ones parsed (the suite has no Python packages).
 */
const snippets = readSnippets('docs/clients.md')
const TEXT = 'Hello from the mock upstream'
const TOKENS = 1500
const WEATHER = '{"city":"Paris","temperature_c":4.2,"conditions":"sunny"}'
const TOOL_ANSWER = (result: string): string => `The tool answered: ${result}`

/** What each runnable snippet must print; a snippet without an entry fails the sync test. */
const expectations: Record<string, (out: string) => void> = {
  'curl-chat': (out) => {
    expect(JSON.parse(out).choices[0].message.content).toBe(TEXT)
  },
  'curl-stream': (out) => {
    const events = out.split('\n\n').filter((e) => e.startsWith('data: '))
    expect(events.at(-1)).toBe('data: [DONE]')
    expect(JSON.parse(events.at(-2)!.slice(6)).usage.total_tokens).toBe(TOKENS)
    const text = events.slice(0, -2).map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content ?? '').join('')
    expect(text).toBe(TEXT)
  },
  'curl-responses': (out) => {
    const [response, models] = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
    expect(response.object).toBe('response')
    expect(response.output[0].content[0].text).toBe(TEXT)
    expect(models.data.map((m: { id: string }) => m.id)).toContain('gpt-5.2-chat-latest')
    expect(out).toMatch(/^x-gateway-cost-usd: 0\.\d+\r?$/m)
  },
  'openai-node-chat': (out) => {
    expect(out).toContain(`${TEXT}\n${TEXT}\ntokens: ${TOKENS}\n${TEXT}\nresponses tokens: ${TOKENS}\n`)
  },
  'openai-node-structured': (out) => {
    expect(out).toBe(`chat: ${WEATHER}\nresponses: ${WEATHER}\n`)
  },
  'openai-node-tools': (out) => {
    expect(out).toBe(`tool call: get_weather {"city":"Paris"}\nanswer: ${TOOL_ANSWER('{"city":"Paris","temperature_c":18,"conditions":"sunny"}')}\n`)
  },
  'vercel-ai-text': (out) => {
    for (const provider of ['openai.chat', 'openai.responses']) {
      expect(out).toContain(`${provider}: ${TEXT} (${TOKENS} tokens)\n`)
      expect(out).toContain(`${TEXT}\n${provider} stream: ${TOKENS} tokens\n`)
    }
  },
  'vercel-ai-object-tools': (out) => {
    for (const provider of ['openai.chat', 'openai.responses']) {
      expect(out).toContain(`${provider} object: {"city":"Paris","temperature_c":4.2,"tags":["mock tag"]}\n`)
      expect(out).toContain(`${provider} tools: getWeather({"city":"Paris"}) -> ${TOOL_ANSWER('{"city":"Paris","temperature_c":18}')}\n`)
    }
  },
  langchain: (out) => {
    expect(out).toBe([
      `${TEXT} (${TOKENS} tokens)`,
      `${TEXT}`,
      `stream: ${TOKENS} tokens`,
      'structured: {"city":"Paris","temperature_c":4.2}',
      'tool call: get_weather {"city":"Paris"}',
      `answer: ${TOOL_ANSWER('{"city":"Paris","temperature_c":18}')}`,
      ''
    ].join('\n'))
  }
}

describe('docs/clients.md', () => {
  let gw: TestGateway
  let env: Record<string, string>
  beforeAll(async () => {
    gw = await startGateway()
    env = { GATEWAY_BASE_URL: gw.baseURL, GATEWAY_KEY: TEST_KEY }
  })
  afterAll(async () => { await gw?.close() })

  it('has a test for every Node and curl snippet, and covers every client the page promises', () => {
    const runnable = snippets.filter((s) => s.lang === 'js' || s.lang === 'sh').map((s) => s.name)
    expect(runnable.sort()).toEqual(Object.keys(expectations).sort())
    expect(snippets.filter((s) => s.lang === 'python').map((s) => s.name).sort()).toEqual(['agents-python', 'openai-python'])
  })

  const check = (result: RunResult, name: string): void => {
    expect(result.stderr, name).toBe('')
    expect(result.code, name).toBe(0)
    expectations[name]!(result.stdout)
  }

  for (const s of snippets.filter((x) => x.lang === 'js')) {
    it(`runs the Node snippet ${s.name} as written`, async () => {
      check(await runNodeSnippet(s, env), s.name)
    }, 300_000)
  }

  for (const s of snippets.filter((x) => x.lang === 'sh')) {
    it(`runs the curl snippet ${s.name} as written`, async () => {
      check(await run('sh', ['-c', s.code], env), s.name)
    }, 300_000)
  }

  it('sent every snippet through the gateway: the mock saw tools, JSON schemas and tool results', () => {
    const bodies = gw.mock.requests.map((r) => r.body.toString('utf8'))
    expect(bodies.some((b) => b.includes('"response_format":{"type":"json_schema"'))).toBe(true)
    expect(bodies.some((b) => b.includes('"format":{"type":"json_schema"'))).toBe(true)
    expect(bodies.some((b) => b.includes('"role":"tool"'))).toBe(true)
    expect(bodies.some((b) => b.includes('"type":"function_call_output"'))).toBe(true)
    // The upstream never sees the client's key, only the gateway's.
    for (const r of gw.mock.requests) expect(r.headers.authorization).not.toContain(TEST_KEY)
  })

  for (const s of snippets.filter((x) => x.lang === 'python')) {
    it(`Python snippet ${s.name} reads the gateway from the environment and is valid Python`, async () => {
      expect(s.code).toContain('base_url=os.environ["GATEWAY_BASE_URL"]')
      expect(s.code).toContain('api_key=os.environ["GATEWAY_KEY"]')
      const file = join(tmpdir(), `comet-clients-${s.name}.py`)
      writeFileSync(file, s.code)
      const syntax = await run('python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', file], {})
      // python3 is missing on some machines (exit 127 / spawn error): then only the above is checked.
      if (syntax.code !== 127 && !syntax.stderr.includes('ENOENT')) expect(syntax, s.name).toEqual({ code: 0, stdout: '', stderr: '' })
    })
  }
})
