import { useState } from 'preact/hooks'
import { api, ApiError, type CreatedKey, type Key, type Team } from '../api.js'
import { Empty, Field, Modal, Notice, SecretPanel } from '../components.js'
import { int, usd } from '../format.js'
import { errorText, useLoad } from '../hooks.js'
import { LimitsFields } from '../limits-form.js'
import { changed, limitsBody, limitsText, num, type LimitsText } from '../limits.js'

/** Teams, or none when this gateway has no teams API yet (the keys page still works). */
async function teamsOrNone (): Promise<Team[]> {
  try {
    return await api.teams()
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return []
    throw err
  }
}

type Dialog =
  | { kind: 'create' }
  | { kind: 'edit', key: Key }
  | { kind: 'rotate', key: Key }
  | { kind: 'revoke', key: Key }
  | { kind: 'secret', key: CreatedKey, rotated: boolean }

export function KeysPage (props: { params: URLSearchParams }) {
  const keys = useLoad(api.keys, [])
  const teams = useLoad(teamsOrNone, [])
  const [team, setTeam] = useState(props.params.get('team') ?? '')
  const [status, setStatus] = useState<'active' | 'revoked' | 'all'>('active')
  const [search, setSearch] = useState('')
  const [dialog, setDialog] = useState<Dialog | null>(null)
  const teamName = new Map((teams.data ?? []).map((t) => [t.id, t.name]))

  const shown = (keys.data ?? []).filter((k) =>
    (status === 'all' || (status === 'revoked') === k.revoked) &&
    (team === '' || (team === '-' ? (k.team_id ?? null) === null : k.team_id === team)) &&
    (search === '' || k.name.toLowerCase().includes(search.toLowerCase()) || k.id.includes(search) || k.key_prefix.startsWith(search)))

  const done = (next: Dialog | null): void => { setDialog(next); keys.reload() }

  return (
    <section class='page'>
      <div class='page-head'>
        <div>
          <h1>Keys</h1>
          <p class='sub'>Virtual keys your clients send as <code>Authorization: Bearer sk-…</code>.</p>
        </div>
        <button type='button' class='primary' onClick={() => { setDialog({ kind: 'create' }) }}>New key</button>
      </div>
      <div class='filters' role='search'>
        <Field label='Search'><input type='search' value={search} onInput={(e) => { setSearch(e.currentTarget.value) }} placeholder='Name, id or prefix' aria-label='Search keys' /></Field>
        <Field label='Team'>
          <select value={team} onChange={(e) => { setTeam(e.currentTarget.value) }} aria-label='Filter by team'>
            <option value=''>All teams</option>
            <option value='-'>No team</option>
            {(teams.data ?? []).map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
          </select>
        </Field>
        <Field label='Status'>
          <select value={status} onChange={(e) => { setStatus(e.currentTarget.value as typeof status) }} aria-label='Filter by status'>
            <option value='active'>Active</option>
            <option value='revoked'>Revoked</option>
            <option value='all'>All</option>
          </select>
        </Field>
      </div>
      {keys.error !== null && <Notice kind='error'>{keys.error}</Notice>}
      {teams.error !== null && <Notice kind='error'>Teams could not be loaded: {teams.error}</Notice>}
      <div class='card table-wrap'>
        <table class='table' aria-label='Keys'>
          <thead>
            <tr><th>Name</th><th>Team</th><th>Models</th><th class='num'>RPM</th><th class='num'>TPM</th><th class='num'>Conc.</th><th>Budget</th><th>Status</th><th class='actions'><span class='sr'>Actions</span></th></tr>
          </thead>
          <tbody>
            {shown.map((k) => (
              <tr key={k.id} data-key-id={k.id} class={k.revoked ? 'revoked' : ''}>
                <td class='name'><div class='strong'>{k.name}</div><div class='muted small'><span class='mono' title={k.id}>{k.key_prefix}…</span> · created {k.created_at.slice(0, 10)}</div></td>
                <td class='nowrap'>{k.team_id != null ? (teamName.get(k.team_id) ?? k.team_id) : <span class='muted'>—</span>}</td>
                <td class='models'>{k.models === null || k.models.length === 0 ? <span class='muted'>all</span> : k.models.map((m) => <span key={m} class='chip'>{m}</span>)}</td>
                <td class='num'>{int(k.rpm)}</td>
                <td class='num'>{int(k.tpm)}</td>
                <td class='num'>{int(k.max_concurrency)}</td>
                <td class='nowrap'>{k.budget_usd === null ? <span class='muted'>—</span> : <>{usd(k.budget_usd)} <span class='muted'>/ {k.budget_period}</span></>}</td>
                <td>{k.revoked ? <span class='badge red'>Revoked</span> : k.read_only === true ? <span class='badge gray'>Config file</span> : <span class='badge green'>Active</span>}</td>
                <td class='actions'>
                  {!k.revoked && k.read_only !== true && (
                    <>
                      <button type='button' class='small' onClick={() => { setDialog({ kind: 'edit', key: k }) }}>Edit</button>
                      <button type='button' class='small' onClick={() => { setDialog({ kind: 'rotate', key: k }) }}>Rotate</button>
                      <button type='button' class='small danger' onClick={() => { setDialog({ kind: 'revoke', key: k }) }}>Revoke</button>
                    </>
                  )}
                  <a class='small link' href={'#/audit?target_id=' + encodeURIComponent(k.id)}>History</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!keys.loading && shown.length === 0 && <Empty>No keys match these filters.</Empty>}
      </div>

      {(dialog?.kind === 'create' || dialog?.kind === 'edit') && (
        <KeyForm
          existing={dialog.kind === 'edit' ? dialog.key : undefined} teams={teams.data ?? []}
          onClose={() => { setDialog(null) }}
          onSaved={(k) => { done('key' in k ? { kind: 'secret', key: k, rotated: false } : null) }}
        />
      )}
      {dialog?.kind === 'rotate' && <RotateDialog k={dialog.key} onClose={() => { setDialog(null) }} onRotated={(k) => { done({ kind: 'secret', key: k, rotated: true }) }} />}
      {dialog?.kind === 'revoke' && <RevokeDialog k={dialog.key} onClose={() => { setDialog(null) }} onRevoked={() => { done(null) }} />}
      {dialog?.kind === 'secret' && (
        <Modal title={dialog.rotated ? 'Key rotated' : 'Key created'} onClose={() => { setDialog(null) }} wide>
          <div class='modal-body'>
            <p>The new secret for <strong>{dialog.key.name}</strong>:</p>
            <SecretPanel secret={dialog.key.key} note='Copy it now. It is shown only this once; the gateway keeps only its hash.' />
          </div>
          <footer class='modal-foot'><button type='button' class='primary' onClick={() => { setDialog(null) }}>Done</button></footer>
        </Modal>
      )}
    </section>
  )
}

interface KeyText extends LimitsText { name: string, team_id: string, expires_at: string, cache_ttl_seconds: string }

function KeyForm (props: { existing: Key | undefined, teams: Team[], onClose: () => void, onSaved: (k: Key | CreatedKey) => void }) {
  const k = props.existing
  const [v, setV] = useState<KeyText>({
    ...limitsText(k),
    name: k?.name ?? '',
    team_id: k?.team_id ?? '',
    expires_at: k?.expires_at?.slice(0, 10) ?? '',
    cache_ttl_seconds: k?.cache_ttl_seconds == null ? '' : String(k.cache_ttl_seconds)
  })
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    const body: Record<string, unknown> = {
      name: v.name.trim(),
      ...limitsBody(v),
      team_id: v.team_id === '' ? null : v.team_id,
      // A date in the form means the key works through the end of that UTC day.
      expires_at: v.expires_at === '' ? null : v.expires_at === k?.expires_at?.slice(0, 10) ? k.expires_at : v.expires_at + 'T23:59:59Z',
      cache_ttl_seconds: num(v.cache_ttl_seconds)
    }
    try {
      if (k === undefined) {
        // Create sends only what was filled in, so the gateway's defaults apply to the rest.
        const create = Object.fromEntries(Object.entries(body).filter(([, x]) => x !== null))
        props.onSaved(await api.createKey(create))
      } else {
        const patch = changed({ ...k, team_id: k.team_id ?? null }, body)
        props.onSaved(Object.keys(patch).length === 0 ? k : await api.updateKey(k.id, patch))
      }
    } catch (err) {
      setError(errorText(err))
      setBusy(false)
    }
  }
  const set = (f: keyof KeyText) => (e: Event) => { setV({ ...v, [f]: (e.currentTarget as HTMLInputElement).value }) }
  return (
    <Modal title={k === undefined ? 'New key' : `Edit ${k.name}`} onClose={props.onClose} wide>
      <form onSubmit={(e) => { submit(e) }}>
        <div class='modal-body form-grid'>
          <Field label='Name' wide><input name='name' value={v.name} onInput={set('name')} required maxLength={200} placeholder='e.g. billing-service' /></Field>
          <Field label='Team'>
            <select name='team_id' value={v.team_id} onChange={set('team_id')}>
              <option value=''>No team</option>
              {props.teams.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
            </select>
          </Field>
          <Field label='Expires (UTC date)'><input name='expires_at' type='date' value={v.expires_at} onInput={set('expires_at')} /></Field>
          <Field label='Cache TTL (seconds)'><input name='cache_ttl_seconds' inputMode='numeric' value={v.cache_ttl_seconds} onInput={set('cache_ttl_seconds')} placeholder='Gateway default' /></Field>
          <h3 class='form-section wide'>Limits</h3>
          <LimitsFields value={v} onChange={(l) => { setV({ ...v, ...l }) }} modelsHint='Comma-separated names or patterns such as gpt-5.2*; empty allows every model (within the team’s).' />
          {error !== null && <div class='wide'><Notice kind='error'>{error}</Notice></div>}
        </div>
        <footer class='modal-foot'>
          <button type='button' onClick={props.onClose}>Cancel</button>
          <button type='submit' class='primary' disabled={busy}>{k === undefined ? 'Create key' : 'Save changes'}</button>
        </footer>
      </form>
    </Modal>
  )
}

function RotateDialog (props: { k: Key, onClose: () => void, onRotated: (k: CreatedKey) => void }) {
  const [grace, setGrace] = useState('0')
  const [error, setError] = useState<string | null>(null)
  const rotate = async (e: Event): Promise<void> => {
    e.preventDefault()
    try {
      props.onRotated(await api.rotateKey(props.k.id, num(grace) ?? 0))
    } catch (err) { setError(errorText(err)) }
  }
  return (
    <Modal title={`Rotate ${props.k.name}`} onClose={props.onClose}>
      <form onSubmit={(e) => { rotate(e) }}>
        <div class='modal-body'>
          <p>A new secret replaces the current one. The key keeps its id, limits, team and spend.</p>
          <Field label='Grace period (seconds)' hint='How long the old secret keeps working (up to 7 days = 604800).'>
            <input name='grace_seconds' inputMode='numeric' value={grace} onInput={(e) => { setGrace(e.currentTarget.value) }} />
          </Field>
          {error !== null && <Notice kind='error'>{error}</Notice>}
        </div>
        <footer class='modal-foot'>
          <button type='button' onClick={props.onClose}>Cancel</button>
          <button type='submit' class='primary'>Rotate key</button>
        </footer>
      </form>
    </Modal>
  )
}

function RevokeDialog (props: { k: Key, onClose: () => void, onRevoked: () => void }) {
  const [error, setError] = useState<string | null>(null)
  const revoke = async (): Promise<void> => {
    try {
      await api.revokeKey(props.k.id)
      props.onRevoked()
    } catch (err) { setError(errorText(err)) }
  }
  return (
    <Modal title={`Revoke ${props.k.name}`} onClose={props.onClose}>
      <div class='modal-body'>
        <p>Requests with this key will be refused on every gateway instance within a second. This cannot be undone.</p>
        {error !== null && <Notice kind='error'>{error}</Notice>}
      </div>
      <footer class='modal-foot'>
        <button type='button' onClick={props.onClose}>Cancel</button>
        <button type='button' class='danger solid' onClick={() => { revoke() }}>Revoke key</button>
      </footer>
    </Modal>
  )
}
