import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { usd } from './format.js'

/** A native modal dialog (focus trap, Escape, backdrop come with it). */
export function Modal (props: { title: string, onClose: () => void, children: ComponentChildren, wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const d = ref.current
    if (d !== null && !d.open) d.showModal()
  }, [])
  return (
    <dialog ref={ref} class={props.wide === true ? 'modal wide' : 'modal'} aria-label={props.title} onCancel={(e) => { e.preventDefault(); props.onClose() }}>
      <header class='modal-head'>
        <h2>{props.title}</h2>
        <button type='button' class='icon' aria-label='Close' onClick={props.onClose}>×</button>
      </header>
      {props.children}
    </dialog>
  )
}

export function Notice (props: { kind: 'error' | 'info' | 'success', children: ComponentChildren }) {
  return <div class={'notice ' + props.kind} role={props.kind === 'error' ? 'alert' : 'status'}>{props.children}</div>
}

export function Field (props: { label: string, hint?: string, children: ComponentChildren, wide?: boolean }) {
  return (
    <label class={props.wide === true ? 'field wide' : 'field'}>
      <span class='label'>{props.label}</span>
      {props.children}
      {props.hint !== undefined && <span class='hint'>{props.hint}</span>}
    </label>
  )
}

/** Spent against a budget: a bar that turns amber past 80% and red when spent. */
export function BudgetBar (props: { spent: number, budget: number | null, period?: string }) {
  if (props.budget === null) return <span class='muted'>{usd(props.spent)} · no budget</span>
  const ratio = props.budget === 0 ? 1 : Math.min(1, props.spent / props.budget)
  const level = ratio >= 1 ? 'over' : ratio >= 0.8 ? 'high' : 'ok'
  const pct = Math.round(ratio * 100)
  return (
    <div class='budget' title={`${usd(props.spent)} of ${usd(props.budget)}`}>
      <div class='bar' role='meter' aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-label='Budget spent'>
        <div class={'fill ' + level} style={{ width: `${pct}%` }} />
      </div>
      <span class='budget-text'>{usd(props.spent)} / {usd(props.budget)}{props.period !== undefined && <span class='muted'> per {props.period === 'total' ? 'lifetime' : props.period}</span>}</span>
    </div>
  )
}

/** A secret shown once, with a copy button; the caller forgets it when the dialog closes. */
export function SecretPanel (props: { secret: string, note: string }) {
  const [copied, setCopied] = useState<'idle' | 'done' | 'failed'>('idle')
  const input = useRef<HTMLInputElement>(null)
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(props.secret)
      setCopied('done')
    } catch {
      // No clipboard permission: select it so Ctrl+C works.
      input.current?.select()
      setCopied('failed')
    }
  }
  return (
    <div class='secret'>
      <p class='secret-note'>{props.note}</p>
      <div class='secret-row'>
        <input ref={input} class='mono' readOnly value={props.secret} aria-label='Secret key' data-testid='secret' onFocus={(e) => { e.currentTarget.select() }} />
        <button type='button' class='primary' onClick={() => { copy() }}>{copied === 'done' ? 'Copied' : 'Copy'}</button>
      </div>
      {copied === 'failed' && <p class='hint'>Copying is blocked here; the key is selected, press Ctrl+C.</p>}
    </div>
  )
}

export function Empty (props: { children: ComponentChildren }) {
  return <div class='empty'>{props.children}</div>
}
