import type { Tracer } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { GatewayConfig } from '../config/schema.js'

export interface Tracing {
  readonly tracer: Tracer
  /** Exports what is still batched and stops (shutdown). */
  close (): Promise<void>
}

/** Where spans go: the traces endpoint as given, else the base endpoint + `/v1/traces`. */
export function tracesEndpoint (config: Pick<GatewayConfig, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'>): string | undefined {
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  if (config.OTEL_EXPORTER_OTLP_ENDPOINT === undefined) return undefined
  return config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '') + '/v1/traces'
}

/**
 * The tracer provider when an OTLP endpoint is configured, else undefined (and then no
 * tracing code runs on the request path at all). Spans are exported over OTLP/HTTP in
 * batches by a timer, off the request path; the provider is not registered globally, so
 * nothing else in the process starts tracing behind our back.
 */
export function createTracing (config: GatewayConfig, options: { scheduledDelayMillis?: number } = {}): Tracing | undefined {
  const url = tracesEndpoint(config)
  if (url === undefined) return undefined
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.OTEL_SERVICE_NAME }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }), {
      scheduledDelayMillis: options.scheduledDelayMillis ?? 1000,
      maxQueueSize: 4096,
      maxExportBatchSize: 512
    })]
  })
  return {
    tracer: provider.getTracer('comet-gateway'),
    close: () => provider.shutdown()
  }
}
