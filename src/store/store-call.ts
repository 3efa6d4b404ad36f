import { GatewayError, gatewayError } from '../errors.js'

/** Store failures become one 503 (`store_unavailable`); our own errors pass unchanged. */
export async function storeCall<R> (op: Promise<R>): Promise<R> {
  try {
    return await op
  } catch (err) {
    if (err instanceof GatewayError) throw err
    throw gatewayError('GW_ERR_STORE_UNAVAILABLE', [(err as Error).message], { cause: err })
  }
}
