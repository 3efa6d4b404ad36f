import { connect, type Socket } from 'node:net'
import { expect } from 'vitest'
import { ATTACK_KEY, baseline, bystander, expectBystanderUnharmed, settleRss, type Bystander, type GatewayProcess } from '../helpers/attack.js'

/**
 * A client that speaks HTTP/1.1 by hand on one socket, so a test can send what no
 * client library would: a body that trickles, headers that never end, garbage, and
 * then see exactly what came back and when the gateway closed the connection.
 */
export interface RawConnection {
  readonly socket: Socket
  /** Everything received so far, latin1. */
  received (): string
  /** Resolves when the gateway has closed the connection: ms since it was opened. */
  readonly closed: Promise<number>
  isClosed (): boolean
  /** Waits for one complete answer (by content-length, or until the close), bounded. */
  answer (timeoutMs?: number): Promise<RawAnswer>
}

export interface RawAnswer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
  /** ms since the connection was opened. */
  readonly at: number
}

/** Opens a connection to the gateway at `url` (from `localAddress` when given). */
export async function openRaw (url: string, localAddress?: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url)
  const opened = performance.now()
  const socket = connect({ port: Number(port), host: hostname, localAddress })
  const chunks: Buffer[] = []
  let closedAt: number | undefined
  const waiters = new Set<() => void>()
  const wake = (): void => { for (const w of waiters) w() }
  socket.on('data', (c: Buffer) => { chunks.push(c); wake() })
  // A reset after the answer is how a refused connection may end: not a test failure.
  socket.on('error', () => {})
  const closed = new Promise<number>((resolve) => socket.once('close', () => { closedAt = performance.now() - opened; wake(); resolve(closedAt) }))
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const received = (): string => Buffer.concat(chunks).toString('latin1')
  return {
    socket,
    received,
    closed,
    isClosed: () => closedAt !== undefined,
    answer: (timeoutMs = 20_000) => new Promise<RawAnswer>((resolve, reject) => {
      const check = (): void => {
        const a = parseAnswer(received(), closedAt !== undefined)
        if (a === undefined && closedAt === undefined) return
        waiters.delete(check)
        clearTimeout(timer)
        if (a === undefined) reject(new Error(`connection closed without an answer; got ${JSON.stringify(received().slice(0, 200))}`))
        else resolve({ ...a, at: performance.now() - opened })
      }
      const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(received().slice(0, 200))}`)) }, timeoutMs)
      waiters.add(check)
      check()
    })
  }
}

/** The first answer in `text` once complete (content-length bodies; else what came before the close). */
function parseAnswer (text: string, closed: boolean): Omit<RawAnswer, 'at'> | undefined {
  const split = text.indexOf('\r\n\r\n')
  if (split === -1) return undefined
  const lines = text.slice(0, split).split('\r\n')
  const headers: Record<string, string> = {}
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':')
    headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim()
  }
  const rest = text.slice(split + 4)
  const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined
  if (length !== undefined && rest.length < length) return undefined
  if (length === undefined && !closed) return undefined
  return { status: Number(lines[0]!.split(' ')[1]), headers, body: length !== undefined ? rest.slice(0, length) : rest }
}

/** The head of a request, ready to write. */
export function head (method: string, target: string, headers: Record<string, string | number>): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'host: 127.0.0.1']
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
  return lines.join('\r\n') + '\r\n\r\n'
}

/** A chat request body of about `bytes` bytes. */
export function chatBody (bytes: number): Buffer {
  const pre = '{"model":"gpt-5.2-chat-latest","messages":[{"role":"user","content":"'
  const post = '"}]}'
  return Buffer.from(pre + 'a'.repeat(Math.max(0, bytes - pre.length - post.length)) + post)
}

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Writes `body` on the connection in `piece`-byte writes `gapMs` apart, until it is all
 * sent or the connection closed or `stop()` says so; returns the bytes written.
 */
export async function trickle (c: RawConnection, body: Buffer, piece: number, gapMs: number, stop: () => boolean = () => false): Promise<number> {
  let sent = 0
  while (sent < body.length && !c.isClosed() && !stop()) {
    const n = Math.min(piece, body.length - sent)
    c.socket.write(body.subarray(sent, sent + n))
    sent += n
    await sleep(gapMs)
  }
  return sent
}

/** The error body of an answer, checked to be OpenAI's shape. */
export function openaiError (a: RawAnswer): { message: string, type: string, code: string | null, param: string | null } {
  expect(a.headers['content-type']).toMatch(/^application\/json/)
  const json = JSON.parse(a.body) as { error: { message: string, type: string, code: string | null, param: string | null } }
  expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type'])
  expect(typeof json.error.message).toBe('string')
  return json.error
}

/** What an attack test measures before the attack: the bystander's normal time and the RSS. */
export interface Watch {
  readonly base: number
  readonly rssStart: number
  readonly bystander: Bystander
}

/** Measures the baseline, then starts a bystander for the attack. */
async function watch (g: GatewayProcess): Promise<Watch> {
  const base = await baseline(g.url)
  return { base, rssStart: g.rss(), bystander: bystander(g.url) }
}

/**
 * Runs `attack` with a bystander watching; then the gateway is alive and answers, the
 * bystander was served throughout (bounds generous for a busy 2-core machine), and the
 * RSS came back within `rssSlack` of its start.
 * @example const answers = await underAttack(g, async () => await Promise.all(conns.map(send)))
 */
export async function underAttack<T> (g: GatewayProcess, attack: (w: Watch) => Promise<T>, rssSlack = 50 * 1024 * 1024): Promise<T> {
  const w = await watch(g)
  let times: number[] = []
  let result: T
  try {
    result = await attack(w)
  } finally {
    times = await w.bystander.stop()
  }
  expect(g.alive()).toBe(true)
  expectBystanderUnharmed(times, w.base)
  const res = await fetch(`${g.url}/v1/models`, { headers: { authorization: `Bearer ${ATTACK_KEY}` } })
  expect(res.status).toBe(200)
  await res.arrayBuffer()
  expect(await settleRss(g, w.rssStart, rssSlack) - w.rssStart).toBeLessThan(rssSlack)
  return result
}
