import { Field } from './components.js'
import type { LimitsText } from './limits.js'

export function LimitsFields (props: { value: LimitsText, onChange: (v: LimitsText) => void, modelsHint: string }) {
  const v = props.value
  const set = (k: keyof LimitsText) => (e: Event) => { props.onChange({ ...v, [k]: (e.currentTarget as HTMLInputElement).value }) }
  return (
    <>
      <Field label='Requests per minute'><input name='rpm' inputMode='numeric' value={v.rpm} onInput={set('rpm')} placeholder='No limit' /></Field>
      <Field label='Tokens per minute'><input name='tpm' inputMode='numeric' value={v.tpm} onInput={set('tpm')} placeholder='No limit' /></Field>
      <Field label='Concurrent requests'><input name='max_concurrency' inputMode='numeric' value={v.max_concurrency} onInput={set('max_concurrency')} placeholder='No limit' /></Field>
      <Field label='Budget (USD)'><input name='budget_usd' inputMode='decimal' value={v.budget_usd} onInput={set('budget_usd')} placeholder='No budget' /></Field>
      <Field label='Budget period'>
        <select name='budget_period' value={v.budget_period} onChange={set('budget_period')}>
          <option value='day'>Per day</option>
          <option value='month'>Per month</option>
          <option value='total'>Lifetime</option>
        </select>
      </Field>
      <Field label='Models' hint={props.modelsHint} wide>
        <input name='models' value={v.models} onInput={set('models')} placeholder='Every model' />
      </Field>
    </>
  )
}
