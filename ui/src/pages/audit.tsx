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

function Row ({ e }: { e: AuditEntry }) {
  const changes = Object.entries(e.changes ?? {})
  return (
    <tr data-action={e.action}>
      <td class='nowrap'>{when(e.at)}</td>
      <td><span class={'badge ' + (e.actor === 'ui' ? 'indigo' : e.actor === 'cli' ? 'amber' : 'gray')}>{e.actor}</span></td>
      <td class='mono'>{e.action}</td>
      <td><div>{e.target_type}</div><div class='muted mono small'>{e.target_id}</div></td>
      <td>
        {changes.length === 0
          ? <span class='muted'>—</span>
          : (
            <ul class='changes'>
              {changes.map(([field, pair]) => (
                <li key={field}>
                  <span class='mono field-name'>{field}</span>{' '}
                  <span class='before'>{value(Array.isArray(pair) ? pair[0] : undefined)}</span>
                  {' → '}
                  <span class='after'>{value(Array.isArray(pair) ? pair[1] : pair)}</span>
                </li>
              ))}
            </ul>
            )}
      </td>
      <td><div class='mono small'>{e.request_id ?? '—'}</div><div class='muted small'>{e.ip ?? ''}</div></td>
    </tr>
  )
}
