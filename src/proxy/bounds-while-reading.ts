import { Transform, type Readable } from 'node:stream'
import { JsonBoundsScanner, type JsonBoundsVerdict } from './json-bounds.js'

/**
 * The depth and value bounds checked while a body arrives: of a 30 MB body of ten million
 * empty arrays only the 3 MB that broke the bound are kept; the rest is read and dropped
 * instead of being gathered into one buffer, and the body is refused at its end.
 * Bytes pass unchanged; the bounds are checked again on the whole body unless this scan
 * saw all of it.
 */

export type Refusal = Extract<JsonBoundsVerdict, { ok: false }>

export interface BoundsWhileReading {
  /** The body as the route's parser should read it. */
  readonly payload: Readable
  /** True once every byte was scanned within the bounds. */
  scannedWhole (): boolean
}

const UTF8_BOM = [0xef, 0xbb, 0xbf]

/**
 * Whether a body is JSON for the body reader, from its first piece: it is when its first
 * significant byte (after an optional BOM) is `{`. Undefined when the piece does not tell
 * (all whitespace): such a body is left to the check on the whole body.
 */
function opensObject (piece: Buffer): boolean | undefined {
  let i = UTF8_BOM.every((b, k) => piece[k] === b) ? 3 : 0
  for (; i < piece.length; i++) {
    const c = piece[i]!
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return c === 0x7b
  }
  return undefined
}

/**
 * Wraps `source`; `json` true when the route or content-type makes the body JSON whatever
 * it starts with, false when only an object body is JSON. `refuse` makes the error the
 * parser is failed with.
 * @example const b = boundsWhileReading(req, true, (v) => gatewayError('GW_ERR_BODY_TOO_COMPLEX', [v.reason]))
 */
export function boundsWhileReading (source: Readable, json: boolean, refuse: (v: Refusal) => Error): BoundsWhileReading {
  const scanner = new JsonBoundsScanner()
  let scan: boolean | undefined = json ? true : undefined
  let refused: Refusal | undefined
  let whole = false
  const payload = new Transform({
    transform (piece: Buffer, _encoding, callback) {
      if (refused !== undefined) { callback(); return }
      if (scan === undefined) scan = opensObject(piece) ?? false
      if (scan) {
        const v = scanner.feed(piece)
        if (!v.ok) { refused = v; callback(); return }
      }
      callback(null, piece)
    },
    flush (callback) {
      // The refusal waits for the end of the upload: answered earlier, the client would
      // still be writing when Fastify closes the connection, and might see EPIPE instead.
      if (refused !== undefined) { callback(refuse(refused)); return }
      whole = scan === true
      callback()
    }
  })
  source.once('error', (err) => payload.destroy(err))
  source.pipe(payload)
  return { payload, scannedWhole: () => whole }
}
