import busboy from 'busboy'
import { gatewayError, type GatewayError } from '../errors.js'

/**
 * Reads the fields of a `multipart/form-data` body that the gateway judges (`model`,
 * `stream`) with busboy, over the bytes already held for the upload: file parts stream
 * through and are dropped, so nothing is buffered a second time. Bounded: field values
 * over 4 KiB, more than 1,000 parts, or a malformed body end the read with a 400, since a
 * field busboy stopped looking for is one the upstream may still find.
 */

export interface MultipartFields {
  readonly model: string | undefined
  readonly stream: string | undefined
}

const WATCHED = new Set(['model', 'stream'])
const LIMITS = { fieldNameSize: 200, fieldSize: 4096, fields: 1000, files: 100, parts: 1000, headerPairs: 200 }

const bad = (message: string, param: string | null = null): GatewayError => gatewayError('GW_ERR_BAD_REQUEST', [message], { param })

/**
 * @throws GatewayError 400 for a malformed body, a watched field given twice (also in
 * another case: `Model`), given as a file, or cut by a limit.
 * @example await readMultipartFields(body, 'multipart/form-data; boundary=x') // { model: 'whisper-1', stream: undefined }
 */
export function readMultipartFields (body: Buffer, contentType: string): Promise<MultipartFields> {
  // Two boundaries: busboy takes one, another parser the other.
  if ((contentType.match(/boundary\s*=/gi) ?? []).length !== 1) return Promise.reject(bad('The multipart content-type must carry exactly one boundary.'))
  let bb: busboy.Busboy
  try {
    bb = busboy({ headers: { 'content-type': contentType }, limits: LIMITS })
  } catch (err) {
    return Promise.reject(bad(`Malformed multipart body: ${(err as Error).message}`))
  }
  return new Promise((resolve, reject) => {
    const found = new Map<string, string>()
    let failed: GatewayError | undefined
    const fail = (e: GatewayError): void => { failed ??= e }
    bb.on('field', (name, value, info) => {
      const folded = name.toUpperCase().toLowerCase()
      if (!WATCHED.has(folded)) return
      if (found.has(folded) || folded !== name) return fail(gatewayError('GW_ERR_DUPLICATE_FIELD', [name], { param: name }))
      if (info.valueTruncated) return fail(bad(`The field ${name} is too long.`, name))
      found.set(folded, value)
    })
    bb.on('file', (name, file) => {
      if (WATCHED.has(name.toUpperCase().toLowerCase())) fail(bad(`The field ${name} must not be a file.`, name))
      file.resume()
    })
    const limit = (): void => fail(bad('The multipart body has too many parts.'))
    bb.on('partsLimit', limit)
    bb.on('filesLimit', limit)
    bb.on('fieldsLimit', limit)
    bb.once('error', (err: Error) => { reject(failed ?? bad(`Malformed multipart body: ${err.message}`)) })
    bb.once('close', () => {
      if (failed !== undefined) reject(failed)
      else resolve({ model: found.get('model'), stream: found.get('stream') })
    })
    bb.end(body)
  })
}
