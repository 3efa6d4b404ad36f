import type { Logger } from 'pino'
import { gatewayError, type GatewayError } from '../errors.js'
import { ForwardingHandler, type Controller, type ResponseEnd, type ResponseHandler, type ResponseHead } from '../proxy/interceptor.js'
import type { BatchBilling } from './batch-billing.js'
import { OutputFileUsage, pushInSlices, usageOfBatch } from './batch-usage.js'
import { resultFiles, type CreatedObject } from './collections.js'
import { filterPage, itemIds, parseList, upstreamCursor, type ListPage } from './list-filter.js'
import type { OwnedObject, OwnershipStore } from './store.js'
import { owns } from './store.js'
import { MAX_ID_PREFIX_BYTES, streamObjectId } from './stream-id.js'

/** The caller, as objects record it. */
export interface Caller {
  readonly keyId: string
  readonly keyName: string
  readonly teamId: string | null
}

/** What to do with the answer of one request (decided before it was relayed). */
export type AnswerJob =
  /** A creation: the objects its answer makes become `owner`'s; `stream` reads the id off an SSE answer. */
  | { readonly kind: 'create', readonly made: (body: unknown) => CreatedObject[], readonly owner: Caller, readonly stream?: 'responses' | 'chat' }
  /** A list: only the caller's items go on; `nextPage` asks the upstream for the page after a cursor. */
  | { readonly kind: 'list', readonly nextPage?: (after: string) => Promise<Buffer | undefined> }
  /** A batch or fine-tuning job read back: its result files become its owner's; a finished batch is billed. */
  | { readonly kind: 'results', readonly target: OwnedObject }
  /** A batch's output file read back: its lines' usage is billed to the batch's creator. */
  | { readonly kind: 'content', readonly target: OwnedObject }
  | { readonly kind: 'delete', readonly id: string }

export interface AnswerContext {
  readonly store: OwnershipStore
  readonly billing: BatchBilling | undefined
  readonly log: Logger
  readonly caller: Caller
  readonly route: string
}

/** Empty pages followed upstream before answering an empty page (each costs one upstream request). */
const MAX_FOLLOWED_PAGES = 10

function parseJson (body: Buffer | undefined): unknown {
  if (body === undefined) return undefined
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}

function asOwned (made: readonly CreatedObject[], owner: Caller): OwnedObject[] {
  const now = Date.now()
  return made.map((m) => ({ id: m.id, collection: m.collection, ownerKeyId: owner.keyId, ownerKeyName: owner.keyName, ownerTeamId: owner.teamId, parentId: m.parentId ?? null, createdAt: now }))
}

function ownerOf (o: OwnedObject): Caller {
  return { keyId: o.ownerKeyId, keyName: o.ownerKeyName, teamId: o.ownerTeamId }
}

function withBody (head: ResponseHead, body: Buffer): ResponseHead {
  const headers = { ...head.headers }
  if (headers['content-length'] !== undefined) headers['content-length'] = String(body.length)
  return { ...head, headers, body }
}

const EMPTY_LIST = Buffer.from('{"object":"list","data":[],"first_id":null,"last_id":null,"has_more":false}')

/**
 * Sees the answer of a request that touched objects. Where the answer must wait for the
 * store (a new id recorded before the client can use it; a list filtered), the calls that
 * arrive meanwhile are queued in order and passed on once the store answered.
 */
export class OwnershipHandler extends ForwardingHandler {
  #held: Array<() => void> | undefined
  /** This handler answered with its own error: the rest of the upstream's answer is dropped. */
  #dropped = false
  #scan: { parts: Buffer[], bytes: number, responses: boolean, owner: Caller } | undefined
  #meter: OutputFileUsage | undefined
  /** A whole output file being metered a slice per turn (a buffered answer). */
  #metering: Promise<void> | undefined

  constructor (inner: ResponseHandler, private readonly ctx: AnswerContext, private readonly job: AnswerJob) {
    super(inner)
  }

  override onResponseStart (controller: Controller, head: ResponseHead): void {
    const ok = head.status >= 200 && head.status < 300
    if (!ok) return this.inner.onResponseStart(controller, head)
    const job = this.job
    switch (job.kind) {
      case 'create':
        if (head.kind === 'sse' && job.stream !== undefined) {
          this.inner.onResponseStart(controller, head)
          this.#held = []
          this.#scan = { parts: [], bytes: 0, responses: job.stream === 'responses', owner: job.owner }
          return
        }
        return this.#recordThen(asOwned(job.made(parseJson(head.body)), job.owner), controller, head)
      case 'results': {
        const body = parseJson(head.body)
        this.#bill(body, job.target)
        return this.#recordThen(asOwned(resultFiles(job.target.collection, body), ownerOf(job.target)), controller, head)
      }
      case 'list':
        if (head.kind !== 'buffered') return this.#fail(controller, gatewayError('GW_ERR_OBJECTS_UNAVAILABLE'))
        return this.#hold(this.#filter(head, job).then((filtered) => { this.inner.onResponseStart(controller, filtered) }), controller)
      case 'content':
        this.#meter = new OutputFileUsage()
        if (head.body !== undefined) this.#metering = pushInSlices(this.#meter, head.body)
        return this.inner.onResponseStart(controller, head)
      case 'delete':
        this.ctx.store.remove(job.id).catch((err: Error) => { this.ctx.log.warn({ err: err.message, id: job.id }, 'deleted object not forgotten') })
        return this.inner.onResponseStart(controller, head)
    }
  }

  override onResponseData (controller: Controller, chunk: Buffer): void {
    if (this.#dropped) return
    this.#meter?.push(chunk)
    this.#pass(() => { this.inner.onResponseData(controller, chunk) })
    if (this.#scan !== undefined) this.#scanChunk(chunk)
  }

  override onResponseEnd (controller: Controller, end: ResponseEnd): void {
    if (this.#dropped) return
    this.#meterEnd()
    this.#pass(() => { this.inner.onResponseEnd(controller, end) })
    this.#endScan()
  }

  override onResponseError (controller: Controller, error: GatewayError): void {
    if (this.#dropped) return
    this.#meterEnd()
    this.#pass(() => { this.inner.onResponseError(controller, error) })
    this.#endScan()
  }

  /** Passes a call on now, or after the store answered when the answer is held. */
  #pass (call: () => void): void {
    if (this.#held !== undefined) this.#held.push(call)
    else call()
  }

  #hold (task: Promise<void>, controller: Controller): void {
    this.#held ??= []
    task.catch((err: Error) => {
      // The store failed while a list was filtered: nothing unfiltered may go out.
      this.ctx.log.error({ err: err.message, route: this.ctx.route }, 'ownership store failed while answering')
      this.#fail(controller, gatewayError('GW_ERR_OBJECTS_UNAVAILABLE'))
    }).finally(() => { this.#release() })
  }

  #release (): void {
    const held = this.#held ?? []
    this.#held = undefined
    for (const call of held) {
      if (this.#dropped) return
      call()
    }
  }

  /** Our own error instead of the upstream's answer (only before its head went on). */
  #fail (controller: Controller, error: GatewayError): void {
    this.#dropped = true
    this.#held = undefined
    controller.abort(error)
    this.inner.onResponseError(controller, error)
  }

  /** Records made objects, then passes the head on: the client never holds an id the gateway does not know. */
  #recordThen (objects: OwnedObject[], controller: Controller, head: ResponseHead): void {
    if (objects.length === 0) return this.inner.onResponseStart(controller, head)
    this.#held = []
    this.ctx.store.record(objects).catch((err: Error) => {
      this.ctx.log.error({ err: err.message, ids: objects.map((o) => o.id) }, 'created objects not recorded: their owner gets 404 for them')
    }).finally(() => {
      this.inner.onResponseStart(controller, head)
      this.#release()
    })
  }

  #scanChunk (chunk: Buffer): void {
    const scan = this.#scan!
    const room = MAX_ID_PREFIX_BYTES - scan.bytes
    scan.parts.push(chunk.length > room ? chunk.subarray(0, room) : chunk)
    scan.bytes += Math.min(chunk.length, room)
    const found = streamObjectId(Buffer.concat(scan.parts).toString('utf8'), scan.responses)
    if (found === 'more') return
    this.#scan = undefined
    if (found === 'none') {
      this.ctx.log.warn({ route: this.ctx.route }, 'no object id in the first events of a creation stream')
      return this.#release()
    }
    const collection = scan.responses ? 'responses' : 'chat_completions'
    this.ctx.store.record(asOwned([{ collection, id: found.id }], scan.owner))
      .catch((err: Error) => { this.ctx.log.error({ err: err.message, id: found.id }, 'created object not recorded: its owner gets 404 for it') })
      .finally(() => { this.#release() })
  }

  #endScan (): void {
    if (this.#scan === undefined) return
    this.#scan = undefined
    this.#release()
  }

  #bill (body: unknown, target: OwnedObject): void {
    if (target.collection !== 'batches' || this.ctx.billing === undefined) return
    const used = usageOfBatch(body)
    if (used !== undefined) this.ctx.billing.bill(target.id, ownerOf(target), used.usage, used.model, this.ctx.route).catch(() => {})
  }

  #meterEnd (): void {
    const meter = this.#meter
    if (meter === undefined || this.job.kind !== 'content') return
    this.#meter = undefined
    const target = this.job.target
    const billing = this.ctx.billing
    if (billing === undefined || target.parentId === null) return
    const batchId = target.parentId
    const bill = (): void => {
      const usage = meter.finish()
      if (usage.input > 0 || usage.output > 0) billing.bill(batchId, ownerOf(target), usage, meter.model, this.ctx.route).catch(() => {})
    }
    if (this.#metering === undefined) return bill()
    this.#metering.then(bill, () => {})
  }

  /** The list answer with only the caller's items; empty pages are followed a few times. */
  async #filter (head: ResponseHead, job: Extract<AnswerJob, { kind: 'list' }>): Promise<ResponseHead> {
    let page: ListPage | undefined = head.body === undefined ? undefined : parseList(head.body)
    if (page === undefined) return withBody(head, EMPTY_LIST)
    const { keyId, teamId } = this.ctx.caller
    for (let followed = 0; ; followed++) {
      const found = await this.ctx.store.lookup(itemIds(page))
      const mine = (id: string): boolean => {
        const o = found.get(id)
        return o !== undefined && owns(o, keyId, teamId)
      }
      const filtered = filterPage(page, mine)
      await this.#recordListed(filtered.data as unknown[], found)
      const cursor = upstreamCursor(page)
      if ((filtered.data as unknown[]).length > 0 || cursor === undefined || followed >= MAX_FOLLOWED_PAGES || job.nextPage === undefined) {
        return withBody(head, Buffer.from(JSON.stringify(filtered)))
      }
      const next = await job.nextPage(cursor)
      const nextPage = next === undefined ? undefined : parseList(next)
      if (nextPage === undefined) return withBody(head, Buffer.from(JSON.stringify(filtered)))
      page = nextPage
    }
  }

  /** Result files of the listed batches and jobs become their owners'. */
  async #recordListed (items: unknown[], found: ReadonlyMap<string, OwnedObject>): Promise<void> {
    const files: OwnedObject[] = []
    for (const item of items) {
      const o = found.get((item as { id: string }).id)
      if (o !== undefined && (o.collection === 'batches' || o.collection === 'fine_tuning_jobs')) files.push(...asOwned(resultFiles(o.collection, item), ownerOf(o)))
    }
    if (files.length > 0) await this.ctx.store.record(files)
  }
}
