import { useEffect, useState } from 'preact/hooks'
import { storedKey, storeKey, whenSignedOut } from './api.js'
import { useRoute } from './hooks.js'
import { AuditPage } from './pages/audit.js'
import { KeysPage } from './pages/keys.js'
import { SignIn } from './pages/sign-in.js'
import { TeamsPage } from './pages/teams.js'
import { UsagePage } from './pages/usage.js'

const PAGES = [
  { id: 'keys', title: 'Keys' },
  { id: 'teams', title: 'Teams' },
  { id: 'usage', title: 'Usage' },
  { id: 'audit', title: 'Audit log' }
] as const

export function App () {
  const [signedIn, setSignedIn] = useState(storedKey() !== null)
  const [message, setMessage] = useState<string | null>(null)
  const { page, params } = useRoute()
  useEffect(() => {
    whenSignedOut((m) => { storeKey(null); setMessage(m); setSignedIn(false) })
  }, [])
  useEffect(() => {
    const title = PAGES.find((p) => p.id === page)?.title
    document.title = (title !== undefined && signedIn ? title + ' · ' : '') + 'comet-gateway admin'
  }, [page, signedIn])

  if (!signedIn) return <SignIn message={message} onSignedIn={() => { setMessage(null); setSignedIn(true) }} />
  const current = PAGES.some((p) => p.id === page) ? page : 'keys'
  return (
    <div class='shell'>
      <header class='topbar'>
        <a class='brand' href='#/keys'><span class='logo' aria-hidden='true' />comet-gateway</a>
        <nav aria-label='Pages'>
          {PAGES.map((p) => <a key={p.id} href={'#/' + p.id} class={current === p.id ? 'tab on' : 'tab'} aria-current={current === p.id ? 'page' : undefined}>{p.title}</a>)}
        </nav>
        <button type='button' class='ghost' onClick={() => { storeKey(null); setSignedIn(false) }}>Sign out</button>
      </header>
      <main class='content'>
        {current === 'keys' && <KeysPage key={params.toString()} params={params} />}
        {current === 'teams' && <TeamsPage />}
        {current === 'usage' && <UsagePage />}
        {current === 'audit' && <AuditPage key={params.toString()} params={params} />}
      </main>
    </div>
  )
}
