import type { Logger } from 'pino'
import { gatewayError, type GatewayError } from '../errors.js'
import { refuse, type Dispatch, type GatewayRequest, type Interceptor, type Principal, type ResponseHandler } from '../proxy/interceptor.js'
import { OwnershipHandler, type AnswerJob, type Caller } from './answers.js'
import type { BatchBilling } from './batch-billing.js'
import { createdObjects, NOUNS, OBJECT_ROOTS, objectRoute, rootOf, segmentName, type ObjectRoute } from './collections.js'
import { collectBody } from './collect.js'
import { duplicateReference, scanReferences, TooManyReferences, type Reference } from './references.js'
import { owns, type OwnedObject, type OwnershipStore } from './store.js'

export interface OwnershipOptions {
  readonly store: OwnershipStore
  /** Bills batches when their results are read back (absent: batches are not billed here). */
  readonly billing?: BatchBilling
  readonly log: Logger
}

/** Routes whose bodies name no objects: their JSON is not walked. */
const NO_REFERENCES: ReadonlySet<string> = new Set(['embeddings', 'moderations', 'completions', 'audio', 'models'])

/** Request headers dropped when a batch's results are read: a partial read would bill partly. */
const RANGE_HEADERS: ReadonlySet<string> = new Set(['range', 'if-range'])

function notFound (collection: OwnedObject['collection'], id: string, param: string | null): GatewayError {
  return gatewayError('GW_ERR_OBJECT_NOT_FOUND', [NOUNS[collection], id], { param })
}

/** Creations whose answer makes an object worth recording (a chat completion only when stored). */
function createJob (route: ObjectRoute & { kind: 'create' }, request: GatewayRequest, caller: Caller): AnswerJob | undefined {
  const store = request.json?.store
  if (route.collection === 'chat_completions' && store !== true) return undefined
  if (route.collection === 'responses' && store === false) return undefined
  const stream = route.collection === 'responses' ? 'responses' : route.collection === 'chat_completions' ? 'chat' : undefined
  return { kind: 'create', made: (body) => createdObjects(route, body), owner: caller, stream }
}

function objectJob (route: ObjectRoute & { kind: 'object' }, request: GatewayRequest, target: OwnedObject): AnswerJob | undefined {
  const { method } = request
  if (method === 'DELETE' && route.depth === 0) return { kind: 'delete', id: route.id }
  if (route.collection === 'batches' && ((method === 'GET' && route.depth === 0) || (method === 'POST' && route.sub === 'cancel'))) return { kind: 'results', target }
  if (route.collection === 'fine_tuning_jobs' && method === 'GET' && route.depth === 0) return { kind: 'results', target }
  if (route.collection === 'uploads' && method === 'POST' && route.sub === 'complete') {
    return { kind: 'create', made: (body) => createdObjects(route, body), owner: { keyId: target.ownerKeyId, keyName: target.ownerKeyName, teamId: target.ownerTeamId } }
  }
  if (route.collection === 'files' && method === 'GET' && route.sub === 'content' && target.parentId !== null) return { kind: 'content', target }
  return undefined
}

/** The same request without range headers (a batch's results are read whole). */
function whole<P extends Principal> (request: GatewayRequest<P>): GatewayRequest<P> {
  if (!Object.keys(request.headers).some((h) => RANGE_HEADERS.has(h))) return request
  const headers = { ...request.headers }
  for (const h of RANGE_HEADERS) delete headers[h]
  return { ...request, headers }
}

/** The list request for the page after `after`, same query otherwise. */
function pathAfter (path: string, after: string): string {
  const q = path.indexOf('?')
  const params = new URLSearchParams(q === -1 ? '' : path.slice(q + 1))
  params.set('after', after)
  return (q === -1 ? path : path.slice(0, q)) + '?' + params.toString()
}

/**
 * Objects belong to their creator (the key, and its team). Before relaying:
 * - a request naming an object (`/v1/<collection>/{id}` and below) passes only when the
 *   caller's key or team owns it; otherwise, and for ids the gateway never saw, 404 as if
 *   it did not exist, never relayed;
 * - so does every object a JSON body names (`previous_response_id`, `file_id`, …), 404
 *   with `param` naming the field.
 * On the answer: ids of successful creations are recorded for the caller before the
 * client sees them; list answers keep only the caller's items; batch results read back
 * are billed to the batch's creator. A store failure is 503 (fails closed).
 * Other routes pay one Set lookup (and a body walk when they carry JSON that may name objects).
 * @example compose(terminal, recorder, ownershipInterceptor({ store, billing, log }), limits, metering)
 */
export function ownershipInterceptor<P extends Principal> (opts: OwnershipOptions): Interceptor<P> {
  const { store, billing, log } = opts
  return (next: Dispatch<P>): Dispatch<P> => {
    const relay = (request: GatewayRequest<P>, handler: ResponseHandler, job: AnswerJob | undefined): void => {
      if (job === undefined) return next(request, handler)
      const caller = callerOf(request.principal)
      if (job.kind === 'list') job = { kind: 'list', nextPage: (after) => collectBody(next, { ...request, path: pathAfter(request.path, after) }) }
      next(job.kind === 'content' ? whole(request) : request, new OwnershipHandler(handler, { store, billing, log, caller, route: request.route }, job))
    }

    return function ownership (request, handler) {
      const root = rootOf(request.path)
      // Other spellings of a collection (`Files`, `%66iles`) are what a lenient upstream may route there too.
      const named = OBJECT_ROOTS.has(root) || OBJECT_ROOTS.has(segmentName(root))
      const walk = request.json !== undefined && !NO_REFERENCES.has(root)
      if (!named && !walk) return next(request, handler)

      const route = named ? objectRoute(request.method, request.path) : undefined
      let refs: Reference[] = []
      if (walk) {
        try {
          const scan = scanReferences(request.json!)
          refs = scan.refs
          // A name given twice: this gateway read the last, a first-wins upstream would read the other.
          const twice = scan.named && request.body !== undefined ? duplicateReference(request.body.toString('utf8')) : undefined
          if (twice !== undefined) return refuse(handler, gatewayError('GW_ERR_DUPLICATE_FIELD', [twice], { param: twice }))
        } catch (err) {
          if (!(err instanceof TooManyReferences)) throw err
          return refuse(handler, gatewayError('GW_ERR_BAD_REQUEST', ['The request names too many objects.'], { param: err.param }))
        }
      }
      if (route === undefined && refs.length === 0) return next(request, handler)
      const caller = callerOf(request.principal)
      if (route !== undefined && route.kind !== 'object' && refs.length === 0) {
        return relay(request, handler, route.kind === 'list' ? { kind: 'list' } : createJob(route, request, caller))
      }

      const ids = refs.map((r) => r.id)
      if (route?.kind === 'object') ids.push(route.id)
      store.lookup(ids).then((found) => {
        const mine = (collection: OwnedObject['collection'], id: string): OwnedObject | undefined => {
          const o = found.get(id)
          return o !== undefined && o.collection === collection && owns(o, caller.keyId, caller.teamId) ? o : undefined
        }
        let target: OwnedObject | undefined
        if (route?.kind === 'object') {
          target = mine(route.collection, route.id)
          if (target === undefined) return refuse(handler, notFound(route.collection, route.id, null))
        }
        for (const r of refs) {
          if (mine(r.collection, r.id) === undefined) return refuse(handler, notFound(r.collection, r.id, r.param))
        }
        let job: AnswerJob | undefined
        if (route?.kind === 'object') job = objectJob(route, request, target!)
        else if (route?.kind === 'create') job = createJob(route, request, caller)
        else if (route?.kind === 'list') job = { kind: 'list' }
        relay(request, handler, job)
      }, (err: Error) => {
        log.error({ err: err.message, reqId: request.id }, 'ownership store unreachable: request refused')
        refuse(handler, gatewayError('GW_ERR_OBJECTS_UNAVAILABLE'))
      })
    }
  }
}

function callerOf (p: Principal): Caller {
  return { keyId: p.id, keyName: p.name, teamId: p.teamId }
}
