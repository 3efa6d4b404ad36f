/**
 * A bounded label for a `/v1/*` path: known resource names are kept, ids become `{id}`,
 * anything else is `/v1/other`. Metrics never see raw paths (cardinality).
 */
const RESOURCES = new Set([
  'chat', 'completions', 'responses', 'models', 'embeddings', 'moderations', 'images', 'audio',
  'files', 'uploads', 'batches', 'fine_tuning', 'vector_stores', 'assistants', 'threads',
  'conversations', 'realtime', 'evals', 'containers', 'videos'
])
const ACTIONS = new Set(['cancel', 'input_items', 'input_tokens', 'compact', 'content', 'completions', 'generations', 'edits', 'variations', 'speech', 'transcriptions', 'translations', 'parts', 'files', 'messages', 'runs', 'items'])

export function routeTemplate (path: string): string {
  const q = path.indexOf('?')
  const segments = (q === -1 ? path : path.slice(0, q)).split('/').filter(Boolean)
  if (segments[0] !== 'v1' || segments.length < 2 || !RESOURCES.has(segments[1]!)) return '/v1/other'
  let out = '/v1/' + segments[1]
  for (let i = 2; i < segments.length && i < 6; i++) {
    const s = segments[i]!
    out += '/' + (ACTIONS.has(s) || (i === 2 && RESOURCES.has(s)) ? s : '{id}')
  }
  return out
}
