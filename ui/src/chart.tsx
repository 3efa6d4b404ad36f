import { useEffect, useRef, useState } from 'preact/hooks'
import UPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { usd } from './format.js'
import { cumulative, type Stack } from './stack.js'

export const PALETTE = ['#4f46e5', '#0ea5e9', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6', '#14b8a6', '#f97316', '#64748b', '#ec4899']

export function color (i: number): string {
  return PALETTE[i % PALETTE.length]!
}

/**
 * Spend per day as stacked bars. uPlot draws series in order, so the tallest running sum
 * goes first and each smaller one is painted over it: the visible parts are the stack.
 */
export function SpendChart (props: { stack: Stack }) {
  const box = useRef<HTMLDivElement>(null)
  const [hover, setHover] = useState<number | null>(null)
  const { stack } = props
  useEffect(() => {
    const el = box.current
    if (el === null) return
    const xs = stack.days.map((d) => Date.parse(d + 'T00:00:00Z') / 1000)
    const sums = cumulative(stack)
    const order = stack.series.map((_, i) => i).reverse()
    const opts: UPlot.Options = {
      width: Math.max(320, el.clientWidth),
      height: 280,
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      tzDate: (ts) => UPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      // Half a day either side, so the first and last bars are whole.
      scales: { x: { time: true, range: (_u, min, max) => [min - 43_200, max + 43_200] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 0.01] } },
      axes: [
        { stroke: '#64748b', grid: { show: false }, ticks: { stroke: '#e2e8f0' } },
        { stroke: '#64748b', grid: { stroke: '#eef2f7' }, ticks: { show: false }, size: 70, values: (_u, vals) => vals.map((v) => usd(v)) }
      ],
      series: [
        {},
        ...order.map((i) => ({
          label: stack.series[i]!.label,
          stroke: color(i),
          fill: color(i),
          width: 0,
          points: { show: false },
          paths: UPlot.paths.bars!({ size: [0.7, 48], gap: 1 })
        }))
      ],
      hooks: { setCursor: [(u) => { setHover(u.cursor.idx ?? null) }] }
    }
    const data: UPlot.AlignedData = [xs, ...order.map((i) => sums[i]!)]
    const plot = new UPlot(opts, data, el)
    const resize = new ResizeObserver(() => { plot.setSize({ width: Math.max(320, el.clientWidth), height: 280 }) })
    resize.observe(el)
    return () => { resize.disconnect(); plot.destroy() }
  }, [stack])

  const total = stack.series.reduce((a, s) => a + s.total, 0)
  const at = hover === null ? null : stack.days[hover]
  return (
    <div class='chart'>
      <div class='chart-readout' aria-live='polite'>
        {at !== undefined && at !== null && hover !== null
          ? <><strong>{at}</strong>: {usd(stack.series.reduce((a, s) => a + s.values[hover]!, 0))}</>
          : <span class='muted'>Hover a day for its spend</span>}
      </div>
      <div ref={box} class='chart-canvas' data-testid='spend-chart' data-total={total} />
      <ul class='legend' aria-label='Chart legend'>
        {stack.series.map((s, i) => (
          <li key={s.label}>
            <span class='swatch' style={{ background: color(i) }} />
            <span class='legend-label'>{s.label}</span>
            <span class='legend-value'>{hover !== null ? usd(s.values[hover]) : usd(s.total)}</span>
          </li>
        ))}
      </ul>
    </div>
  )
}
