import type { FastifyInstance, FastifyRequest } from 'fastify'
import { bearerToken } from '../auth/authenticate.js'
import { isKeyActive, type KeyResolver } from '../auth/key-record.js'
import { refuseThrottled } from '../admin/auth-throttle.js'
import { gatewayError } from '../errors.js'
import type { SpendLedger } from '../metering/ledger.js'
import type { LedgerRow } from '../metering/record.js'
import { secretEquals } from '../metrics/plugin.js'
import { parseReportQuery, type Report } from './query.js'
import { costBuckets, keep, pageOf, usageBuckets } from './report.js'

export interface UsageApiOptions {
  readonly adminKey: string | undefined
  readonly resolver: KeyResolver
  readonly ledger: Pick<SpendLedger, 'rows'>
  readonly now?: () => number
}

export const USAGE_COMPLETIONS_PATH = '/v1/organization/usage/completions'
export const COSTS_PATH = '/v1/organization/costs'

/**
 * OpenAI's Usage and Costs API answered from the gateway's own ledger, so tools built
 * for it work unchanged: `GET /v1/organization/usage/completions` and
 * `GET /v1/organization/costs` with the admin key; a client key gets 403. These two
 * routes are exact paths, so the router picks them over the `/v1/*` relay: they are
 * never sent upstream.
 * @example await app.register(usageApiRoutes({ adminKey: config.ADMIN_KEY, resolver, ledger }))
 */
export function usageApiRoutes (o: UsageApiOptions) {
  const now = o.now ?? Date.now

  // A client key is a known secret, not a guess: only an unknown token counts as a failure.
  const admitted = async (request: FastifyRequest): Promise<void> => {
    if (o.adminKey === undefined) throw gatewayError('GW_ERR_ADMIN_DISABLED')
    const throttle = request.server.adminThrottle
    refuseThrottled(throttle, request.ip)
    const token = bearerToken(request.headers.authorization)
    if (secretEquals(token, o.adminKey)) return
    if (token !== undefined) {
      const found = o.resolver.resolve(token)
      const key = found instanceof Promise ? await found : found
      if (key !== undefined && isKeyActive(key, now())) throw gatewayError('GW_ERR_CLIENT_KEY_FORBIDDEN')
    }
    throttle.fail(request.ip)
    throw gatewayError('GW_ERR_ADMIN_UNAUTHORIZED')
  }

  const answer = (report: Report) => async (request: FastifyRequest) => {
    const q = parseReportQuery(report, (request.query ?? {}) as Record<string, unknown>, now())
    const { buckets, nextPage } = pageOf(q)
    let rows: LedgerRow[]
    if (buckets.length === 0) rows = []
    else {
      try {
        rows = keep(await o.ledger.rows(buckets[0]!.day, buckets.at(-1)!.day), q)
      } catch (err) {
        throw gatewayError('GW_ERR_LEDGER_UNAVAILABLE', [(err as { code?: string }).code ?? 'no answer'], { cause: err })
      }
    }
    const data = report === 'completions' ? usageBuckets(rows, q, buckets) : costBuckets(rows, q, buckets)
    return { object: 'page', data, has_more: nextPage !== null, next_page: nextPage }
  }

  return async function routes (app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', admitted)
    app.get(USAGE_COMPLETIONS_PATH, answer('completions'))
    app.get(COSTS_PATH, answer('costs'))
  }
}
