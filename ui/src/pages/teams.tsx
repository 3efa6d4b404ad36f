import { useState } from 'preact/hooks'
import { api, type Team } from '../api.js'
import { BudgetBar, Empty, Field, Modal, Notice } from '../components.js'
import { int, periodStart } from '../format.js'
import { teamSpend } from '../spend.js'
import { errorText, useLoad } from '../hooks.js'
import { LimitsFields } from '../limits-form.js'
import { changed, limitsBody, limitsText, type LimitsText } from '../limits.js'

async function loadTeams (): Promise<{ teams: Team[], spend: Map<string, number>, keyCount: Map<string, number> }> {
  const [teams, usage, keys] = await Promise.all([
    api.teams(),
    api.usage({ from: periodStart('total'), group_by: 'team,day' }),
    api.keys()
  ])
  const keyCount = new Map<string, number>()
  for (const k of keys) if (!k.revoked && k.team_id != null) keyCount.set(k.team_id, (keyCount.get(k.team_id) ?? 0) + 1)
  return { teams, spend: teamSpend(teams, usage.data), keyCount }
}

type Dialog = { kind: 'create' } | { kind: 'edit', team: Team } | { kind: 'delete', team: Team }

export function TeamsPage () {
  const loaded = useLoad(loadTeams, [])
  const [dialog, setDialog] = useState<Dialog | null>(null)
  const close = (): void => { setDialog(null) }
  const saved = (): void => { setDialog(null); loaded.reload() }
  const { teams = [], spend = new Map<string, number>(), keyCount = new Map<string, number>() } = loaded.data ?? {}
  return (
    <section class='page'>
      <div class='page-head'>
        <div>
          <h1>Teams</h1>
          <p class='sub'>A team’s limits, budget and models bound every key in it.</p>
        </div>
        <button type='button' class='primary' onClick={() => { setDialog({ kind: 'create' }) }}>New team</button>
      </div>
      {loaded.error !== null && <Notice kind='error'>{loaded.error}</Notice>}
      <div class='card table-wrap'>
        <table class='table' aria-label='Teams'>
          <thead>
            <tr><th>Name</th><th class='num'>Keys</th><th>Models</th><th class='num'>RPM</th><th class='num'>TPM</th><th class='num'>Conc.</th><th class='budget-col'>Budget</th><th class='actions'><span class='sr'>Actions</span></th></tr>
          </thead>
          <tbody>
            {teams.map((t) => (
              <tr key={t.id} data-team-id={t.id}>
                <td class='name'><div class='strong'>{t.name}</div><div class='muted mono small'>{t.id}</div></td>
                <td class='num'><a class='link' href={'#/keys?team=' + encodeURIComponent(t.id)}>{int(keyCount.get(t.id) ?? 0)}</a></td>
                <td class='models'>{t.models === null || t.models.length === 0 ? <span class='muted'>all</span> : t.models.map((m) => <span key={m} class='chip'>{m}</span>)}</td>
                <td class='num'>{int(t.rpm)}</td>
                <td class='num'>{int(t.tpm)}</td>
                <td class='num'>{int(t.max_concurrency)}</td>
                <td class='budget-col'><BudgetBar spent={spend.get(t.id) ?? 0} budget={t.budget_usd} period={t.budget_period} /></td>
                <td class='actions'>
                  <button type='button' class='small' onClick={() => { setDialog({ kind: 'edit', team: t }) }}>Edit</button>
                  <button type='button' class='small danger' onClick={() => { setDialog({ kind: 'delete', team: t }) }}>Delete</button>
                  <a class='small link' href={'#/audit?target_id=' + encodeURIComponent(t.id)}>History</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!loaded.loading && teams.length === 0 && loaded.error === null && <Empty>No teams yet. A team groups keys under one budget and one set of limits.</Empty>}
      </div>
      {(dialog?.kind === 'create' || dialog?.kind === 'edit') && <TeamForm existing={dialog.kind === 'edit' ? dialog.team : undefined} onClose={close} onSaved={saved} />}
      {dialog?.kind === 'delete' && <DeleteTeam team={dialog.team} onClose={close} onDeleted={saved} />}
    </section>
  )
}

function TeamForm (props: { existing: Team | undefined, onClose: () => void, onSaved: () => void }) {
  const t = props.existing
  const [v, setV] = useState<LimitsText & { name: string }>({ ...limitsText(t), name: t?.name ?? '' })
  const [error, setError] = useState<string | null>(null)
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    const body: Record<string, unknown> = { name: v.name.trim(), ...limitsBody(v) }
    try {
      if (t === undefined) await api.createTeam(Object.fromEntries(Object.entries(body).filter(([, x]) => x !== null)))
      else {
        const patch = changed(t as unknown as Record<string, unknown>, body)
        if (Object.keys(patch).length > 0) await api.updateTeam(t.id, patch)
      }
      props.onSaved()
    } catch (err) { setError(errorText(err)) }
  }
  return (
    <Modal title={t === undefined ? 'New team' : `Edit ${t.name}`} onClose={props.onClose} wide>
      <form onSubmit={(e) => { submit(e) }}>
        <div class='modal-body form-grid'>
          <Field label='Name' wide><input name='name' value={v.name} onInput={(e) => { setV({ ...v, name: e.currentTarget.value }) }} required maxLength={200} placeholder='e.g. search' /></Field>
          <h3 class='form-section wide'>Limits</h3>
          <LimitsFields value={v} onChange={(l) => { setV({ ...v, ...l }) }} modelsHint='Comma-separated names or patterns; the team’s keys may use only these. Empty allows every model.' />
          {error !== null && <div class='wide'><Notice kind='error'>{error}</Notice></div>}
        </div>
        <footer class='modal-foot'>
          <button type='button' onClick={props.onClose}>Cancel</button>
          <button type='submit' class='primary'>{t === undefined ? 'Create team' : 'Save changes'}</button>
        </footer>
      </form>
    </Modal>
  )
}

function DeleteTeam (props: { team: Team, onClose: () => void, onDeleted: () => void }) {
  const [error, setError] = useState<string | null>(null)
  const del = async (): Promise<void> => {
    try {
      await api.deleteTeam(props.team.id)
      props.onDeleted()
    } catch (err) { setError(errorText(err)) }
  }
  return (
    <Modal title={`Delete ${props.team.name}`} onClose={props.onClose}>
      <div class='modal-body'>
        <p>A team can be deleted once none of its keys is active. Its spend stays in the usage history.</p>
        {error !== null && <Notice kind='error'>{error}</Notice>}
      </div>
      <footer class='modal-foot'>
        <button type='button' onClick={props.onClose}>Cancel</button>
        <button type='button' class='danger solid' onClick={() => { del() }}>Delete team</button>
      </footer>
    </Modal>
  )
}
