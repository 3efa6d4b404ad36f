import { sampleFromSchema } from './schema-sample.js'

/**
 * What the mock upstream answers a chat or Responses request with, decided from its body
 * alone (pure): one tool call while the conversation has no tool result yet, then a final
 * answer; a final answer that satisfies the requested JSON schema, if any. This is what
 * agent loops and structured-output helpers need to finish.
 */
export type MockAnswer =
  | { kind: 'text', text: string }
  | { kind: 'tool', callId: string, name: string, arguments: string }

type Body = Record<string, unknown>
type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

/** The tool call the mock's chat streams made before it read requests (kept for old callers). */
export const DEFAULT_TOOL_CALL: MockAnswer = { kind: 'tool', callId: 'call_mock', name: 'get_weather', arguments: '{"city":"Paris"}' }

interface Tool { name: string, parameters: unknown }

/** Function tools of either API: chat `{type, function: {name, parameters}}`, Responses `{type, name, parameters}`. */
function functionTools (body: Body): Tool[] {
  if (!Array.isArray(body.tools)) return []
  const out: Tool[] = []
  for (const t of body.tools) {
    if (!isObj(t) || t.type !== 'function') continue
    const f = isObj(t.function) ? t.function : t
    if (typeof f.name === 'string') out.push({ name: f.name, parameters: f.parameters ?? { type: 'object', properties: {} } })
  }
  return out
}

/** The tool `tool_choice` asks for; undefined when it forbids tools. */
function chosenTool (body: Body, tools: Tool[]): Tool | undefined {
  const choice = body.tool_choice
  if (choice === 'none') return undefined
  if (isObj(choice)) {
    const name = isObj(choice.function) ? choice.function.name : choice.name
    return tools.find((t) => t.name === name) ?? tools[0]
  }
  return tools[0]
}

function toolCall (tool: Tool): MockAnswer {
  return { kind: 'tool', callId: 'call_mock_1', name: tool.name, arguments: JSON.stringify(sampleFromSchema(tool.parameters)) }
}

function contentText (content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.map((p) => isObj(p) && typeof p.text === 'string' ? p.text : '').join('')
  return content === undefined || content === null ? '' : JSON.stringify(content)
}

function finalText (toolOutput: string | undefined, schema: unknown, fallback: string): string {
  if (schema !== undefined) return JSON.stringify(sampleFromSchema(schema))
  if (toolOutput !== undefined) return `The tool answered: ${toolOutput.slice(0, 200)}`
  return fallback
}

/** Chat completions: `messages`, `tools`, `tool_choice`, `response_format`. */
export function chatAnswer (body: Body, fallback: string): MockAnswer {
  const messages = Array.isArray(body.messages) ? body.messages : []
  const last: unknown = messages.at(-1)
  const toolOutput = isObj(last) && last.role === 'tool' ? contentText(last.content) : undefined
  const tool = toolOutput === undefined ? chosenTool(body, functionTools(body)) : undefined
  if (tool !== undefined) return toolCall(tool)
  const format = isObj(body.response_format) ? body.response_format : undefined
  let schema: unknown
  if (format?.type === 'json_schema') schema = isObj(format.json_schema) ? format.json_schema.schema ?? {} : {}
  else if (format?.type === 'json_object') schema = { type: 'object', properties: { answer: { type: 'string' } } }
  return { kind: 'text', text: finalText(toolOutput, schema, fallback) }
}

/** Responses API: `input`, `tools`, `tool_choice`, `text.format`. */
export function responsesAnswer (body: Body, fallback: string): MockAnswer {
  const input = Array.isArray(body.input) ? body.input : []
  const last: unknown = input.at(-1)
  const toolOutput = isObj(last) && last.type === 'function_call_output' ? contentText(last.output) : undefined
  const tool = toolOutput === undefined ? chosenTool(body, functionTools(body)) : undefined
  if (tool !== undefined) return toolCall(tool)
  const format = isObj(body.text) && isObj(body.text.format) ? body.text.format : undefined
  let schema: unknown
  if (format?.type === 'json_schema') schema = format.schema ?? {}
  else if (format?.type === 'json_object') schema = { type: 'object', properties: { answer: { type: 'string' } } }
  return { kind: 'text', text: finalText(toolOutput, schema, fallback) }
}

/** `text` cut into `n` pieces (at least one), as a stream sends it. */
export function pieces (text: string, n: number): string[] {
  const count = Math.max(1, Math.min(n, text.length))
  const size = Math.ceil(text.length / count)
  const out: string[] = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out.length > 0 ? out : ['']
}
