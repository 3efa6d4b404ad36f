import { useState } from 'preact/hooks'
import { ApiError, request, signInMessage, storeKey } from '../api.js'
import { Notice } from '../components.js'

/** Checks the key against the admin API before keeping it, so a typo is caught here. */
export function SignIn (props: { message: string | null, onSignedIn: () => void }) {
  const [key, setKey] = useState('')
  const [error, setError] = useState<string | null>(props.message)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await request('GET', '/keys', { key: key.trim() })
      storeKey(key.trim())
      props.onSignedIn()
    } catch (err) {
      setError(err instanceof ApiError ? signInMessage(err) : String(err))
      setBusy(false)
    }
  }
  return (
    <main class='signin'>
      <form class='card signin-card' onSubmit={(e) => { submit(e) }}>
        <div class='brand big'><span class='logo' aria-hidden='true' />comet-gateway</div>
        <h1>Sign in</h1>
        <p class='sub'>Enter the gateway’s admin key (<code>ADMIN_KEY</code>). It stays in this tab only and is forgotten when the tab closes.</p>
        <label class='field'>
          <span class='label'>Admin key</span>
          <input type='password' name='admin-key' autoComplete='current-password' value={key} onInput={(e) => { setKey(e.currentTarget.value) }} required autoFocus />
        </label>
        {error !== null && <Notice kind='error'>{error}</Notice>}
        <button type='submit' class='primary block' disabled={busy || key.trim() === ''}>{busy ? 'Checking…' : 'Sign in'}</button>
      </form>
    </main>
  )
}
