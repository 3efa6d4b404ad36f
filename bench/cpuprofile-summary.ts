import { readFileSync } from 'node:fs'
import { isMain } from './processes.js'

/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the top functions by self
 * time, and per package or source folder both self time and inclusive time (samples
 * whose stack holds a frame of it: "time under pino", callees included).
 *
 *   node dist/bench/cpuprofile-summary.js file.cpuprofile [top]
 */

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number }

/** A time window on CLOCK_MONOTONIC in µs (V8's profile clock): samples outside it are left out. */
export interface Window { fromUs: number, toUs: number }

/** Which package, Node subsystem or gateway folder a frame belongs to. */
export function category (f: CallFrame): string {
  const url = f.url
  if (url === '') return f.functionName.startsWith('(') ? f.functionName : 'V8/native builtins'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const rest = url.slice(nm + 14).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.startsWith('node:')) {
    const mod = url.slice(5).replace(/^internal\//, '')
    if (/^(_http|http)/.test(mod)) return 'node:http'
    if (/^(net|stream|streams|_stream|dns|tcp)/.test(mod) || mod.startsWith('stream')) return 'node:net/streams'
    if (/^(events|timers|process|async_hooks|util)/.test(mod)) return 'node:events/timers'
    return `node:${mod.split('/')[0]}`
  }
  // Our code by folder (= by feature: proxy, auth, ratelimit, metering, cache, metrics).
  const src = /\/dist\/(src|bench)\/(.*)$/.exec(url)
  if (src !== null) {
    const parts = src[2]!.split('/')
    return parts.length > 1 ? `${src[1]}/${parts[0]}` : `${src[1]}/${parts[0]!.replace(/\.js$/, '')}`
  }
  return url
}

export interface Summary {
  totalMs: number
  busyMs: number
  top: Array<{ name: string, selfMs: number }>
  categories: Array<{ name: string, selfMs: number, inclusiveMs: number }>
}

export function summarizeProfile (profile: CpuProfile, top = 25, window?: Window): Summary {
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const n of profile.nodes) {
    byId.set(n.id, n)
    for (const c of n.children ?? []) parent.set(c, n.id)
  }
  const selfUs = new Map<number, number>()
  let total = 0
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0
    if (window !== undefined && (at < window.fromUs || at > window.toUs)) continue
    const dt = profile.timeDeltas[i + 1] ?? 0 // a sample lasts until the next one
    total += dt
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
  }
  const fn = new Map<string, number>()
  const catSelf = new Map<string, number>()
  const catIncl = new Map<string, number>()
  let idle = 0
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame
    if (f.functionName === '(idle)') { idle += us; continue }
    const file = f.url.replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, '').replace(/^file:\/\//, '')
    const name = `${f.functionName || '(anonymous)'} ${file}${file !== '' ? ':' + (f.lineNumber + 1) : ''}`
    fn.set(name, (fn.get(name) ?? 0) + us)
    const cat = category(f)
    catSelf.set(cat, (catSelf.get(cat) ?? 0) + us)
    // Inclusive: each category on the stack counts once for this sample's time.
    const seen = new Set<string>()
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const c = category(byId.get(n)!.callFrame)
      if (c === '(root)' || seen.has(c)) continue
      seen.add(c)
      catIncl.set(c, (catIncl.get(c) ?? 0) + us)
    }
  }
  const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1])
  return {
    totalMs: total / 1000,
    busyMs: (total - idle) / 1000,
    top: sorted(fn).slice(0, top).map(([name, us]) => ({ name, selfMs: us / 1000 })),
    categories: sorted(catSelf).map(([name, us]) => ({ name, selfMs: us / 1000, inclusiveMs: (catIncl.get(name) ?? us) / 1000 }))
  }
}

/** The summary as Markdown: two tables, shares of busy (non-idle) time. */
export function formatSummary (s: Summary, title: string): string {
  const pct = (ms: number): string => `${(100 * ms / s.busyMs).toFixed(1)}%`
  const out = [`### ${title}`, '', `Busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled.`, '',
    '| package / folder | self | inclusive |', '|---|---|---|']
  for (const c of s.categories.slice(0, 24)) out.push(`| ${c.name} | ${pct(c.selfMs)} | ${pct(c.inclusiveMs)} |`)
  out.push('', '| function (self time) | self |', '|---|---|')
  for (const f of s.top) out.push(`| \`${f.name}\` | ${pct(f.selfMs)} |`)
  return out.join('\n')
}

if (isMain(import.meta.url)) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/cpuprofile-summary.js <file.cpuprofile> [top]\n')
    process.exit(2)
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  process.stdout.write(formatSummary(summarizeProfile(profile, Number(process.argv[3] ?? 25)), file) + '\n')
}
