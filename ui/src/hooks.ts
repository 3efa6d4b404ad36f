import { useCallback, useEffect, useState } from 'preact/hooks'
import { ApiError } from './api.js'

export interface Loaded<T> {
  data: T | undefined
  error: string | null
  loading: boolean
  reload: () => void
}

/** Runs `load` when `deps` change (and on `reload`); a later answer always wins over an older one. */
export function useLoad<T> (load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined)
  const [error, setError] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let current = true
    setLoading(true)
    load().then(
      (d) => { if (current) { setData(d); setError(null); setLoading(false) } },
      (err: unknown) => { if (current) { setError(errorText(err)); setLoading(false) } }
    )
    return () => { current = false }
  }, [...deps, tick])
  const reload = useCallback(() => { setTick((t) => t + 1) }, [])
  return { data, error, loading, reload }
}

export function errorText (err: unknown): string {
  if (err instanceof ApiError) return err.message
  return err instanceof Error ? err.message : String(err)
}

/** The route after `#`: a page name and its query (`#/audit?target_id=key_1`). */
export function useRoute (): { page: string, params: URLSearchParams } {
  const read = (): string => location.hash.replace(/^#\/?/, '')
  const [hash, setHash] = useState(read)
  useEffect(() => {
    const on = (): void => { setHash(read()) }
    addEventListener('hashchange', on)
    return () => { removeEventListener('hashchange', on) }
  }, [])
  const [page = '', query = ''] = hash.split('?')
  return { page, params: new URLSearchParams(query) }
}
