import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { UsageRecord } from './record.js'

/**
 * The local journal of usage records: what survives `kill -9` between a response's end
 * and the ledger's next write. Each record is one line of JSON in the current segment
 * file, written with one `write(2)` before the record is counted anywhere else. Once
 * `write` returns the bytes are in the kernel's page cache, which outlives the process,
 * so no fsync is needed to survive a crash of the gateway (a crash of the machine may
 * lose the last records; the ledger's store is the durable copy).
 *
 *   DATA_DIR/journal/<batch id>.jsonl   one segment = exactly one ledger batch
 *
 *   append ─▶ current segment ──cut()──▶ closed segment = batch <id> ──stored(id)──▶ unlinked
 *
 * A segment's file name is the id of the batch its records become, so after a crash the
 * segments left on disk are replayed under the same ids; the stores apply a batch id at
 * most once, so a batch that did reach the store before the crash is not counted twice.
 * One gateway process per DATA_DIR (as for the embedded store).
 */
export interface Journal {
  /** Appends one record (one write). Never throws: a failing disk is reported, the record still counts. */
  append (r: UsageRecord): void
  /** Closes the current segment and returns its batch id (undefined when it holds nothing). */
  cut (): string | undefined
  /** The batch `id` is stored: its segment goes. */
  stored (id: string): void
  /** Segments found at start-up (a previous process's), oldest first: to replay. */
  recovered (): Array<{ readonly id: string, readonly records: UsageRecord[] }>
  close (): void
}

/** The fields a ledger row needs, in a fixed order (short lines, cheap to write and parse). */
type Line = [keyId: string, keyName: string, teamId: string | null, model: string, input: number, cached: number, output: number, reasoning: number, cost: number, hit: 0 | 1, saved: number, estimated: 0 | 1, atMs: number]

/** The last record's string fields, JSON-encoded: requests of one key and model repeat them. */
let prefixOf: { keyId: string, keyName: string, teamId: string | null, model: string, json: string } | undefined

/**
 * The same bytes as `JSON.stringify(line) + '\n'` (test/unit), with the string fields
 * encoded once per key × model rather than per record (bench/micro/money.ts).
 */
export function toLine (r: UsageRecord): string {
  const teamId = r.teamId ?? null
  let p = prefixOf
  if (p === undefined || p.keyId !== r.keyId || p.keyName !== r.keyName || p.teamId !== teamId || p.model !== r.model) {
    const json = `[${JSON.stringify(r.keyId)},${JSON.stringify(r.keyName)},${JSON.stringify(teamId)},${JSON.stringify(r.model)},`
    prefixOf = p = { keyId: r.keyId, keyName: r.keyName, teamId, model: r.model, json }
  }
  // Integers and flags only from here on: no escaping needed.
  return `${p.json}${num(r.inputTokens)},${num(r.cachedInputTokens)},${num(r.outputTokens)},${num(r.reasoningTokens)},${num(r.costNanos)},${r.cacheHit ? 1 : 0},${num(r.savedNanos)},${r.estimated ? 1 : 0},${num(r.atMs)}]\n`
}

/** A number as JSON writes it (NaN and infinities become null there). */
function num (n: number): string | number {
  return Number.isFinite(n) ? n : 'null'
}

/** A journal line back to a record (the fields metrics and logs need are not kept: replay only feeds the ledger). */
export function fromLine (line: string): UsageRecord | undefined {
  let l: unknown
  try {
    l = JSON.parse(line)
  } catch {
    return undefined // a torn last line (the machine, not the process, went down)
  }
  if (!Array.isArray(l) || l.length !== 13 || typeof l[0] !== 'string' || typeof l[3] !== 'string') return undefined
  const [keyId, keyName, teamId, model, input, cached, output, reasoning, cost, hit, saved, estimated, atMs] = l as Line
  return {
    keyId,
    keyName: String(keyName),
    teamId: typeof teamId === 'string' ? teamId : null,
    model,
    label: model,
    route: 'journal',
    inputTokens: Number(input) || 0,
    cachedInputTokens: Number(cached) || 0,
    outputTokens: Number(output) || 0,
    reasoningTokens: Number(reasoning) || 0,
    costNanos: Number(cost) || 0,
    cacheHit: hit === 1,
    savedNanos: Number(saved) || 0,
    estimated: estimated === 1,
    priced: true,
    latencyMs: 0,
    atMs: Number(atMs) || 0
  }
}

const SUFFIX = '.jsonl'

/**
 * Opens the journal under `dir` (created if needed). Segments already there are kept
 * for `recovered()`; new records go to new segments.
 * @example const journal = openJournal(join(config.DATA_DIR, 'journal'), (err) => log.error({ err }, 'journal write failed'))
 */
export function openJournal (dir: string, onError: (err: unknown) => void = () => {}): Journal {
  mkdirSync(dir, { recursive: true })
  const found = readdirSync(dir).filter((f) => f.endsWith(SUFFIX)).map((f) => f.slice(0, -SUFFIX.length))
  let fd: number | undefined
  let id: string | undefined
  let count = 0
  let seq = 0

  const openSegment = (): number => {
    // Time first, so segments sort oldest first (replay order does not change totals, but logs read better).
    id = Date.now().toString(36).padStart(9, '0') + '-' + (seq++).toString(36).padStart(6, '0') + '-' + randomBytes(6).toString('base64url')
    fd = openSync(join(dir, id + SUFFIX), 'a')
    count = 0
    return fd
  }

  const unlink = (segment: string): void => {
    try {
      unlinkSync(join(dir, segment + SUFFIX))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onError(err)
    }
  }

  return {
    append (r) {
      try {
        writeSync(fd ?? openSegment(), toLine(r))
        count++
      } catch (err) {
        onError(err)
      }
    },
    cut () {
      if (fd === undefined) return undefined
      const done = id
      try { closeSync(fd) } catch (err) { onError(err) }
      fd = undefined
      id = undefined
      if (count === 0 && done !== undefined) {
        unlink(done)
        return undefined
      }
      return done
    },
    stored (segment) { unlink(segment) },
    recovered () {
      return found.sort().map((segment) => {
        let text = ''
        try {
          text = readFileSync(join(dir, segment + SUFFIX), 'utf8')
        } catch (err) {
          onError(err)
        }
        const records: UsageRecord[] = []
        for (const line of text.split('\n')) {
          if (line === '') continue
          const r = fromLine(line)
          if (r !== undefined) records.push(r)
        }
        return { id: segment, records }
      })
    },
    close () {
      if (fd !== undefined) {
        try { closeSync(fd) } catch {}
        fd = undefined
      }
    }
  }
}
