import { useState } from 'preact/hooks'
import { api, type UsageRow } from '../api.js'
import { SpendChart } from '../chart.js'
import { Empty, Field, Notice } from '../components.js'
import { addDays, daysBetween, firstOfMonth, int, today, usd } from '../format.js'
import { errorText, useLoad } from '../hooks.js'
import { stackRows } from '../stack.js'

type StackBy = 'model' | 'team'

const teamLabel = (r: UsageRow): string => r.team_name ?? (r.team_id == null ? 'No team' : r.team_id)

/** One table's rows, or the gateway's reason it cannot group that way. */
async function rowsOrReason (query: Record<string, string>): Promise<{ rows: UsageRow[], reason: string | null }> {
  try {
    return { rows: (await api.usage(query)).data, reason: null }
  } catch (err) {
    return { rows: [], reason: errorText(err) }
  }
}

async function loadUsage (from: string, to: string, by: StackBy) {
  const range = { from, to }
  const [totals, perDay, keys, models, teams] = await Promise.all([
    api.usage({ ...range, group_by: '' }),
    rowsOrReason({ ...range, group_by: 'day,' + by }),
    rowsOrReason({ ...range, group_by: 'key' }),
    rowsOrReason({ ...range, group_by: 'model' }),
    rowsOrReason({ ...range, group_by: 'team' })
  ])
  const days = daysBetween(from, to)
  const stack = stackRows(perDay.rows, days, by === 'model' ? (r) => r.model ?? '—' : teamLabel)
  return { total: totals.data[0], totalCost: totals.total_cost_usd, stack, chartReason: perDay.reason, keys, models, teams }
}

export function UsagePage () {
  // The last 30 days: a month's chart even on the 1st.
  const [from, setFrom] = useState(addDays(today(), -29))
  const [to, setTo] = useState(today())
  const [by, setBy] = useState<StackBy>('model')
  const usage = useLoad(async () => await loadUsage(from, to, by), [from, to, by])
  const u = usage.data
  const t = u?.total
  const preset = (days: number): void => { setFrom(addDays(today(), -(days - 1))); setTo(today()) }
  return (
    <section class='page'>
      <div class='page-head'>
        <div>
          <h1>Usage</h1>
          <p class='sub'>Metered spend by UTC day, from the gateway’s ledger.</p>
        </div>
      </div>
      <div class='filters'>
        <Field label='From'><input type='date' value={from} max={to} onChange={(e) => { if (e.currentTarget.value !== '') setFrom(e.currentTarget.value) }} aria-label='From' /></Field>
        <Field label='To'><input type='date' value={to} min={from} onChange={(e) => { if (e.currentTarget.value !== '') setTo(e.currentTarget.value) }} aria-label='To' /></Field>
        <div class='field'>
          <span class='label'>Range</span>
          <div class='segmented'>
            <button type='button' onClick={() => { preset(7) }}>7 days</button>
            <button type='button' onClick={() => { preset(30) }}>30 days</button>
            <button type='button' onClick={() => { preset(90) }}>90 days</button>
            <button type='button' onClick={() => { setFrom(firstOfMonth()); setTo(today()) }}>This month</button>
          </div>
        </div>
        <div class='field'>
          <span class='label'>Stack by</span>
          <div class='segmented' role='radiogroup' aria-label='Stack by'>
            {(['model', 'team'] as const).map((b) => (
              <button key={b} type='button' role='radio' aria-checked={by === b} class={by === b ? 'on' : ''} onClick={() => { setBy(b) }}>{b === 'model' ? 'Model' : 'Team'}</button>
            ))}
          </div>
        </div>
      </div>
      {usage.error !== null && <Notice kind='error'>{usage.error}</Notice>}
      <div class='stats' aria-label='Totals'>
        <Stat label='Spend' value={usd(u?.totalCost ?? 0)} testid='total-cost' />
        <Stat label='Requests' value={int(t?.requests ?? 0)} />
        <Stat label='Input tokens' value={int(t?.input_tokens ?? 0)} note={`${int(t?.cached_input_tokens ?? 0)} cached`} />
        <Stat label='Output tokens' value={int(t?.output_tokens ?? 0)} note={`${int(t?.reasoning_tokens ?? 0)} reasoning`} />
        <Stat label='Cache hits' value={int(t?.cache_hits ?? 0)} />
        <Stat label='Saved by cache' value={usd(t?.saved_usd ?? 0)} testid='total-saved' />
      </div>
      <div class='card chart-card'>
        <h2 class='card-title'>Spend per day <span class='muted'>by {by}</span></h2>
        {u?.chartReason != null
          ? <Notice kind='info'>{u.chartReason}</Notice>
          : u !== undefined && <SpendChart stack={u.stack} />}
      </div>
      <div class='grid-2'>
        <UsageTable title='By key' label='Key' part={u?.keys} name={(r) => r.key_name ?? r.key_id ?? '—'} sub={(r) => r.key_id} />
        <UsageTable title='By model' label='Model' part={u?.models} name={(r) => r.model ?? '—'} />
        <UsageTable title='By team' label='Team' part={u?.teams} name={teamLabel} sub={(r) => r.team_id ?? undefined} />
      </div>
    </section>
  )
}

function Stat (props: { label: string, value: string, note?: string, testid?: string }) {
  return (
    <div class='stat card'>
      <div class='stat-label'>{props.label}</div>
      <div class='stat-value' data-testid={props.testid}>{props.value}</div>
      {props.note !== undefined && <div class='stat-note'>{props.note}</div>}
    </div>
  )
}

function UsageTable (props: { title: string, label: string, part: { rows: UsageRow[], reason: string | null } | undefined, name: (r: UsageRow) => string, sub?: (r: UsageRow) => string | undefined }) {
  const rows = [...(props.part?.rows ?? [])].sort((a, b) => b.cost_usd - a.cost_usd)
  return (
    <div class='card table-wrap'>
      <h2 class='card-title'>{props.title}</h2>
      {props.part?.reason != null
        ? <Notice kind='info'>{props.part.reason}</Notice>
        : (
          <table class='table' aria-label={'Usage ' + props.title.toLowerCase()}>
            <thead><tr><th>{props.label}</th><th class='num'>Requests</th><th class='num'>Input</th><th class='num'>Output</th><th class='num'>Cache hits</th><th class='num'>Saved</th><th class='num'>Cost</th></tr></thead>
            <tbody>
              {rows.map((r, i) => (
                <tr key={i}>
                  <td class='name'><div class='strong'>{props.name(r)}</div>{props.sub?.(r) !== undefined && <div class='muted mono small'>{props.sub(r)}</div>}</td>
                  <td class='num'>{int(r.requests)}</td>
                  <td class='num'>{int(r.input_tokens)}</td>
                  <td class='num'>{int(r.output_tokens)}</td>
                  <td class='num'>{int(r.cache_hits)}</td>
                  <td class='num'>{usd(r.saved_usd)}</td>
                  <td class='num strong'>{usd(r.cost_usd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          )}
      {props.part !== undefined && props.part.reason === null && rows.length === 0 && <Empty>No usage in this range.</Empty>}
    </div>
  )
}
