import { EventEmitter } from 'node:events'
import { group } from './harness.js'

/**
 * The relay's per-request abort signal (the client leaves → the upstream request is
 * aborted): an AbortController with one 'abort' listener added and removed, as undici
 * does, against a plain EventEmitter, which undici accepts as a signal too.
 */
const listener = (): void => {}

export function abortSignalBench (timeMs?: number): string {
  return group('Abort signal per request (create, listen, unlisten)', [
    {
      name: 'AbortController (before)',
      fn: () => {
        const a = new AbortController()
        a.signal.addEventListener('abort', listener, { once: true })
        a.signal.removeEventListener('abort', listener)
        return a
      }
    },
    {
      name: 'EventEmitter (the relay before dispatch())',
      fn: () => {
        const e = new EventEmitter()
        e.once('abort', listener)
        e.removeListener('abort', listener)
        return e
      }
    }
  ], timeMs)
}
