import type { GatewayConfig } from '../config/schema.js'
import type { KeyPrincipal } from '../auth/principal.js'
import type { GatewayRequest } from '../proxy/interceptor.js'
import type { PriceTable } from '../metering/pricing.js'
import { isModelAllowed } from '../auth/model-access.js'
import { gatewayError, type GatewayError } from '../errors.js'
import { isRouteAllowed } from './routes.js'

export type UnpricedModels = GatewayConfig['UNPRICED_MODELS']

/**
 * POST routes whose body names the model that serves (and prices) the request. On these,
 * a request without `model` is served by a model the upstream picks (its default, or a
 * stored prompt's), which no allow-list or price check has seen.
 */
const MODEL_ROUTES: ReadonlySet<string> = new Set([
  'chat/completions', 'responses', 'responses/compact', 'responses/input_tokens', 'embeddings', 'completions', 'moderations',
  'images/generations', 'images/edits', 'images/variations', 'audio/speech', 'audio/transcriptions', 'audio/translations'
])

/** The canonical route below /v1 without query or leading slash: `files/file-1/content`. */
export function routeOf (path: string): string {
  const q = path.indexOf('?')
  return (q === -1 ? path : path.slice(0, q)).replace(/^\//, '')
}

const restricted = (models: readonly string[] | null | undefined): boolean => models !== null && models !== undefined && models.length > 0
const budgeted = (p: KeyPrincipal): boolean => p.key.budget_usd !== null || (p.team !== null && p.team.budget_usd !== null)

/**
 * Why this key may not make this request, or undefined when it may. In order: the route
 * (403 `route_not_allowed`), the model allow-lists of the key and its team (403
 * `model_not_allowed`), a model the checks below need but the body does not name (400,
 * `param` model), and a model without a price (403 `model_not_priced`): under
 * `deny_budgeted` for a key or team with a USD budget, under `deny` for every key.
 * @example accessRefusal(request, prices, 'deny_budgeted')
 */
export function accessRefusal (request: GatewayRequest<KeyPrincipal>, prices: PriceTable, unpriced: UnpricedModels): GatewayError | undefined {
  const p = request.principal
  const route = routeOf(request.path)
  if (!isRouteAllowed(p.key.routes, route)) return gatewayError('GW_ERR_ROUTE_NOT_ALLOWED', [`/v1/${route}`])
  const model = request.model
  const teamModels = p.team?.models
  const priceMatters = unpriced === 'deny' || (unpriced === 'deny_budgeted' && budgeted(p))
  if (model === undefined) {
    if (request.method === 'POST' && MODEL_ROUTES.has(route) && (restricted(p.key.models) || restricted(teamModels) || priceMatters)) {
      return gatewayError('GW_ERR_BAD_REQUEST', ['This key may use only some models (or has a budget): name the model in the request.'], { param: 'model' })
    }
    return undefined
  }
  if (!isModelAllowed(p.key.models, model) || (teamModels !== undefined && !isModelAllowed(teamModels, model))) {
    return gatewayError('GW_ERR_MODEL_NOT_ALLOWED', [model], { param: 'model' })
  }
  if (priceMatters && prices.resolve(model).price === undefined) return gatewayError('GW_ERR_MODEL_NOT_PRICED', [model], { param: 'model' })
  return undefined
}
