import { z } from 'zod'

/**
 * Which client routes a key may call. A key's `routes` is a list of path patterns below
 * `/v1` (`chat/completions`, `responses*`, `images/*`), where `*` matches any run of
 * characters, `/` included; `null` means the default set. The default set is what an
 * application needs from an OpenAI-compatible API. It leaves out the upstream account's
 * administration (`organization/*`), work that is billed outside the gateway's meter
 * (`fine_tuning/*`, `evals*`), and the routes that mint upstream credentials a client
 * could then use without the gateway (`realtime/sessions`, `realtime/client_secrets`,
 * `realtime/transcription_sessions`).
 */

export const DEFAULT_ROUTES: readonly string[] = Object.freeze([
  'chat/completions', 'responses*', 'embeddings', 'completions', 'moderations', 'images/*', 'audio/*',
  'models*', 'files*', 'uploads*', 'vector_stores*', 'batches*', 'containers*', 'conversations*',
  // The WebSocket route only: `realtime/…` below it is not in the set.
  'realtime'
])

/**
 * Glob match where `*` matches any run: the two-pointer algorithm that remembers only the
 * last star, so the work is bounded by pattern length × path length, never exponential.
 */
export function globMatch (pattern: string, text: string): boolean {
  let p = 0
  let t = 0
  let star = -1
  let mark = 0
  while (t < text.length) {
    if (p < pattern.length && pattern.charCodeAt(p) !== 0x2a && pattern.charCodeAt(p) === text.charCodeAt(t)) {
      p++
      t++
    } else if (p < pattern.length && pattern.charCodeAt(p) === 0x2a) {
      star = p++
      mark = t
    } else if (star !== -1) {
      p = star + 1
      t = ++mark
    } else {
      return false
    }
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 0x2a) p++
  return p === pattern.length
}

/** A route pattern as people may write it: leading `/` or `/v1/` dropped. */
export function normalizeRoutePattern (pattern: string): string {
  return pattern.trim().replace(/^\/?(v1\/)?/, '')
}

/**
 * True when `route` (a canonical path below `/v1`, without query or leading slash:
 * `chat/completions`, `files/file-1/content`) is allowed by `routes` (null = the default set).
 * @example isRouteAllowed(null, 'organization/users') // false
 */
export function isRouteAllowed (routes: readonly string[] | null, route: string): boolean {
  const list = routes ?? DEFAULT_ROUTES
  for (let i = 0; i < list.length; i++) if (globMatch(list[i]!, route)) return true
  return false
}

/**
 * A key's `routes` as the admin API, the CLI and the config file take it: at least one
 * pattern (use null for the default set), each normalised (`/v1/files*` → `files*`).
 */
export const routesSchema = z.array(
  z.string().trim().min(1).max(200).regex(/^[\w./*:-]+$/, 'letters, digits, _ . / * : - only').transform(normalizeRoutePattern)
).min(1, 'give at least one pattern (null = the default set)').max(200)
