import { readFileSync, writeFileSync } from 'node:fs'

/** One peer's medians across rounds. `undefined` = not measured (shown as –). */
export interface PeerResult {
  name: string
  nsRps?: number
  nsP50Ms?: number
  nsP99Ms?: number
  nsCpuUs?: number
  streamRps?: number
  streamCpuUs?: number
  /** Time to first body byte at a fixed rate, µs (absolute; the table shows it minus direct's). */
  ttfbP50Us?: number
  ttfbP99Us?: number
  /** Latency at a fixed rate, µs (absolute). */
  latP50Us?: number
  latP99Us?: number
  /** Proxy CPU per request / per stream during the fixed-rate runs, µs. */
  fixedNsCpuUs?: number
  fixedStreamCpuUs?: number
  /** CPU of a helper process (Redis) per non-stream request / per stream, µs. */
  helperNsCpuUs?: number
  helperStreamCpuUs?: number
}

export function median (xs: readonly (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return undefined
  const m = v.length >> 1
  return v.length % 2 === 1 ? v[m] : (v[m - 1]! + v[m]!) / 2
}

const k = (x: number | undefined): string => x === undefined ? '–' : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0)
const us = (x: number | undefined): string => x === undefined ? '–' : `${x.toFixed(0)} µs`
const ms = (x: number | undefined, digits = 2): string => x === undefined ? '–' : (x / 1000).toFixed(digits)
const ratio = (x: number | undefined, base: number | undefined): string => x === undefined || base === undefined || base === 0 ? '' : ` (${(x / base).toFixed(2)})`

/**
 * The one results table: throughput as a ratio to direct, proxy CPU as a ratio to the
 * bare relay, added latency as the difference to direct.
 */
export function resultsTable (peers: readonly PeerResult[], rate: number): string {
  const direct = peers.find((p) => p.name.startsWith('direct'))
  const bare = peers.find((p) => p.name.startsWith('bare'))
  const added = (x: number | undefined, base: number | undefined): number | undefined => x === undefined || base === undefined ? undefined : x - base
  const lines = [
    `| peer | non-stream req/s (× direct) | p50 / p99 ms | proxy CPU per request (× bare) | 20-chunk streams/s (× direct) | proxy CPU per stream (× bare) | added TTFB p50 / p99 ms @${rate} streams/s | added latency p50 / p99 ms @${rate} req/s |`,
    '|---|---|---|---|---|---|---|---|'
  ]
  for (const p of peers) {
    const isDirect = p === direct
    const helper = p.helperNsCpuUs !== undefined ? ` + ${us(p.helperNsCpuUs)} redis` : ''
    const helperS = p.helperStreamCpuUs !== undefined ? ` + ${us(p.helperStreamCpuUs)} redis` : ''
    lines.push([
      '', p.name,
      `${k(p.nsRps)}${ratio(p.nsRps, direct?.nsRps)}`,
      `${p.nsP50Ms ?? '–'} / ${p.nsP99Ms ?? '–'}`,
      isDirect ? '–' : `${us(p.nsCpuUs)}${ratio(p.nsCpuUs, bare?.nsCpuUs)}${helper}`,
      `${k(p.streamRps)}${ratio(p.streamRps, direct?.streamRps)}`,
      isDirect ? '–' : `${us(p.streamCpuUs)}${ratio(p.streamCpuUs, bare?.streamCpuUs)}${helperS}`,
      isDirect ? `(${ms(p.ttfbP50Us)} / ${ms(p.ttfbP99Us)} absolute)` : `${ms(added(p.ttfbP50Us, direct?.ttfbP50Us))} / ${ms(added(p.ttfbP99Us, direct?.ttfbP99Us))}`,
      isDirect ? `(${ms(p.latP50Us)} / ${ms(p.latP99Us)} absolute)` : `${ms(added(p.latP50Us, direct?.latP50Us))} / ${ms(added(p.latP99Us, direct?.latP99Us))}`,
      ''
    ].join(' | ').trim())
  }
  return lines.join('\n')
}

/**
 * Proxy CPU per request at the fixed rate: the same work as at full load, but every peer
 * wakes up for each request alike, so a loaded machine shifts how much each wake-up
 * batches less than it does at full load (a second view of the same ratio).
 */
export function fixedCpuTable (peers: readonly PeerResult[], rate: number): string {
  const bare = peers.find((p) => p.name.startsWith('bare'))
  const lines = [
    `| peer | proxy CPU per request @${rate} req/s (× bare) | proxy CPU per stream @${rate} streams/s (× bare) |`,
    '|---|---|---|'
  ]
  for (const p of peers) {
    if (p.fixedNsCpuUs === undefined && p.fixedStreamCpuUs === undefined) continue
    lines.push(`| ${p.name} | ${us(p.fixedNsCpuUs)}${ratio(p.fixedNsCpuUs, bare?.fixedNsCpuUs)} | ${us(p.fixedStreamCpuUs)}${ratio(p.fixedStreamCpuUs, bare?.fixedStreamCpuUs)} |`)
  }
  return lines.join('\n')
}

/** Replaces the generated block `name` of `file` (between its markers) with `text`; appends it when missing. */
export function writeResultsBlock (file: string, text: string, name = 'results'): void {
  const START = `<!-- bench:${name}:start -->`
  const END = `<!-- bench:${name}:end -->`
  let doc = ''
  try { doc = readFileSync(file, 'utf8') } catch {}
  const block = `${START}\n${text.trim()}\n${END}`
  const a = doc.indexOf(START)
  const b = doc.indexOf(END)
  doc = a !== -1 && b > a ? doc.slice(0, a) + block + doc.slice(b + END.length) : `${doc.trimEnd()}\n\n${block}\n`
  writeFileSync(file, doc)
}
