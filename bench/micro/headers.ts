import type { IncomingHttpHeaders } from 'node:http'
import { clientRequestId, clientResponseHeaders, upstreamRequestHeaders } from '../../src/proxy/headers.js'
import { clientResponseHeadersV1 } from './baseline.js'
import { group } from './harness.js'

/** Header filtering both ways, with the headers a real SDK request and a CometAPI answer carry. */

const client: IncomingHttpHeaders = {
  host: '127.0.0.1:8080',
  connection: 'keep-alive',
  'content-type': 'application/json',
  accept: 'application/json',
  'user-agent': 'OpenAI/JS 6.49.0',
  'x-stainless-lang': 'js',
  'x-stainless-package-version': '6.49.0',
  'x-stainless-os': 'Linux',
  'x-stainless-arch': 'x64',
  'x-stainless-runtime': 'node',
  'x-stainless-runtime-version': 'v20.20.2',
  'x-stainless-retry-count': '0',
  authorization: 'Bearer sk-bench-0123456789abcdefghijklmnopqrstuvwxyzABCD',
  'content-length': '93',
  'accept-encoding': 'gzip, deflate'
}

const upstream: Record<string, string | string[]> = {
  date: 'Sun, 29 Nov 2026 15:00:00 GMT',
  'content-type': 'application/json',
  'content-length': '712',
  connection: 'keep-alive',
  'keep-alive': 'timeout=60',
  'x-request-id': 'req_0123456789abcdef',
  'openai-processing-ms': '812',
  'openai-version': '2020-10-01',
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6ms',
  'strict-transport-security': 'max-age=31536000',
  server: 'cloudflare',
  'cf-ray': '8f0000000000-AMS',
  'set-cookie': ['__cf_bm=abc; path=/', '_cfuvid=def; path=/']
}

export function headersBench (timeMs?: number): string {
  return [
    group('Request headers to the upstream (allow-list)', [
      { name: 'upstreamRequestHeaders', fn: () => upstreamRequestHeaders(client, 'Bearer sk-upstream', 'req_1') }
    ], timeMs),
    group('Response headers to the client (drop hop-by-hop)', [
      { name: 'before: Connection parsed on every answer (baseline.ts)', fn: () => clientResponseHeadersV1(upstream) },
      { name: 'now: src/proxy/headers.ts', fn: () => clientResponseHeaders(upstream) }
    ], timeMs),
    group('Client x-request-id check', [
      { name: 'clientRequestId (absent)', fn: () => clientRequestId(undefined) },
      { name: 'clientRequestId (present)', fn: () => clientRequestId('req_client-0123456789') }
    ], timeMs)
  ].join('\n\n')
}
