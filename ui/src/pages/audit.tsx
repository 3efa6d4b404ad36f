import { useState } from 'preact/hooks'
import { api, type AuditEntry } from '../api.js'
import { Empty, Field, Notice } from '../components.js'
import { value, when } from '../format.js'

const ACTIONS = ['key.create', 'key.update', 'key.rotate', 'key.revoke', 'team.create', 'team.update', 'team.delete']
import { useLoad } from '../hooks.js'

export function AuditPage (props: { params: URLSearchParams }) {
  const [targetId, setTargetId] = useState(props.params.get('target_id') ?? '')
  const [action, setAction] = useState('')
  const [from, setFrom] = useState('')
  const [to, setTo] = useState('')
  const q = (s: string): string | undefined => s.trim() === '' ? undefined : s.trim()
  // Dates are whole UTC days, `to` included.
  const query = { target_id: q(targetId), action: q(action), from: q(from), to: q(to), limit: '500' }
  const audit = useLoad(async () => await api.audit(query), [targetId, action, from, to])
  const entries = audit.data ?? []
  return (
    <section class='page'>
      <div class='page-head'>
        <div>
          <h1>Audit log</h1>
          <p class='sub'>Every change to keys and teams, newest first, with who made it and from where.</p>
        </div>
      </div>
      <div class='filters' role='search'>
        <Field label='Target id'><input value={targetId} onChange={(e) => { setTargetId(e.currentTarget.value) }} placeholder='key_… or team_…' aria-label='Target id' /></Field>
        <Field label='Action'>
          <select value={action} onChange={(e) => { setAction(e.currentTarget.value) }} aria-label='Action'>
            <option value=''>Any action</option>
            {ACTIONS.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </Field>
        <Field label='From'><input type='date' value={from} onChange={(e) => { setFrom(e.currentTarget.value) }} aria-label='From' /></Field>
        <Field label='To'><input type='date' value={to} onChange={(e) => { setTo(e.currentTarget.value) }} aria-label='To' /></Field>
        {(targetId !== '' || action !== '' || from !== '' || to !== '') && (
          <div class='field'><span class='label'>&nbsp;</span><button type='button' onClick={() => { setTargetId(''); setAction(''); setFrom(''); setTo(''); location.hash = '#/audit' }}>Clear filters</button></div>
        )}
      </div>
      {audit.error !== null && <Notice kind='error'>{audit.error}</Notice>}
      <div class='card table-wrap'>
        <table class='table' aria-label='Audit log'>
          <thead><tr><th>When</th><th>Actor</th><th>Action</th><th>Target</th><th>Changes</th><th>Request</th></tr></thead>
          <tbody>{entries.map((e, i) => <Row key={e.id ?? i} e={e} />)}</tbody>
        </table>
        {!audit.loading && entries.length === 0 && audit.error === null && <Empty>No audit entries match.</Empty>}
      </div>
    </section>
  )
}

/** Fields every create or delete entry carries that say nothing a reader needs. */
const NOISE = new Set(['id', 'object', 'created_at', 'revoked', 'revoked_at', 'read_only'])
const SHOWN = 6

const empty = (v: unknown): boolean => v === null || v === undefined || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0)

/**
 * A create shows the values it set, a delete the values it removed, an update each field's
 * before → after. Long lists fold into a native <details> (no script needed).
 */
function Changes ({ changes }: { changes: Array<[string, [unknown, unknown]]> }) {
  const created = changes.every(([, [b]]) => b === null)
  const deleted = !created && changes.every(([, [, a]]) => a === null)
  const items = created || deleted
    ? changes.filter(([f, [b, a]]) => !NOISE.has(f) && !empty(created ? a : b)).map(([f, [b, a]]) => (
      <li key={f}><span class='mono field-name'>{f}</span> <span class={deleted ? 'before' : 'after'}>{value(created ? a : b)}</span></li>
    ))
    : changes.map(([f, [b, a]]) => (
      <li key={f}><span class='mono field-name'>{f}</span> <span class='before'>{value(b)}</span>{' → '}<span class='after'>{value(a)}</span></li>
    ))
  if (items.length === 0) return <span class='muted'>—</span>
  return (
    <>
      <ul class='changes'>{items.slice(0, SHOWN)}</ul>
      {items.length > SHOWN && (
        <details class='more'>
          <summary>{items.length - SHOWN} more</summary>
          <ul class='changes'>{items.slice(SHOWN)}</ul>
        </details>
      )}
    </>
  )
}

function Row ({ e }: { e: AuditEntry }) {
  const changes = Object.entries(e.changes ?? {}).map(([f, pair]): [string, [unknown, unknown]] => [f, Array.isArray(pair) ? [pair[0], pair[1]] : [null, pair]])
  return (
    <tr data-action={e.action}>
      <td class='nowrap'>{when(e.at)}</td>
      <td><span class={'badge ' + (e.actor === 'ui' ? 'indigo' : e.actor === 'cli' ? 'amber' : 'gray')}>{e.actor}</span></td>
      <td class='mono nowrap'>{e.action}</td>
      <td><div>{e.target_type}</div><div class='muted mono small nowrap'>{e.target_id}</div></td>
      <td class='changes-cell'><Changes changes={changes} /></td>
      <td><div class='mono small req' title={e.request_id ?? ''}>{e.request_id ?? '—'}</div><div class='muted small'>{e.ip ?? ''}</div></td>
    </tr>
  )
}
