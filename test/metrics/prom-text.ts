/** One sample of the Prometheus text format. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses Prometheus text exposition (what `GET /metrics` answers) into samples. */
export function parsePrometheusText (text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => c === 'n' ? '\n' : c)
    out.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) })
  }
  return out
}

/** The metrics of a gateway, queried like PromQL selectors. */
export class Scrape {
  constructor (readonly samples: Sample[]) {}

  static async of (url: string, token?: string): Promise<Scrape> {
    const res = await fetch(`${url}/metrics`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
    return new Scrape(parsePrometheusText(await res.text()))
  }

  /** Samples of `name` whose labels include `match`. */
  select (name: string, match: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
  }

  /** The sum of the matching samples' values (0 when none), like `sum(name{match})`. */
  sum (name: string, match: Record<string, string> = {}): number {
    return this.select(name, match).reduce((a, s) => a + s.value, 0)
  }

  names (): Set<string> {
    return new Set(this.samples.map((s) => s.name))
  }
}
