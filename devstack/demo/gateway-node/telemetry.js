// Tracing and logging for the gateway, loaded before anything else (`node --require
// ./telemetry.js server.js`) so that the auto-instrumentations patch express, http, undici
// (fetch) and pino before they are first required.
//
// Spans: OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_ENDPOINT (the embedded stack's receiver
// in `tracelink dev`/`demo`, the OpenTelemetry Collector in compose).
// Logs: pino, with @opentelemetry/instrumentation-pino adding trace_id/span_id/trace_flags
// to every line written inside a span. Where they go is TRACELINK_GATEWAY_LOGS:
//   otlp  (default) the pino instrumentation also sends each record through the OTel logs
//         SDK to OTEL_EXPORTER_OTLP_ENDPOINT/v1/logs, which puts it on the log topic
//         (ExportLogsServiceRequest protobuf, as the Collector's kafka exporter writes it);
//   kafka the pino JSON lines themselves are produced to TRACELINK_LOG_TOPIC with kafkajs
//         (see logging.js), and no OTLP logs are sent.
'use strict';

const { NodeSDK } = require('@opentelemetry/sdk-node');
const { getNodeAutoInstrumentations } = require('@opentelemetry/auto-instrumentations-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto');
const { BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const logSink = process.env.TRACELINK_GATEWAY_LOGS || 'otlp';
if (logSink !== 'otlp' && logSink !== 'kafka') {
  console.error(`configuration error: TRACELINK_GATEWAY_LOGS: ${logSink} is not otlp or kafka`);
  process.exit(2);
}
const probes = new Set(['/healthz', '/readyz']);

const sdk = new NodeSDK({
  resource: resourceFromAttributes({
    'service.name': process.env.OTEL_SERVICE_NAME || 'gateway',
    'service.version': process.env.TRACELINK_DEMO_VERSION || '0.1.0',
    'service.namespace': 'tracelink-demo',
    'deployment.environment.name': process.env.TRACELINK_DEMO_ENVIRONMENT || 'demo',
  }),
  // The exporters read OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces, /v1/logs) themselves.
  traceExporter: new OTLPTraceExporter(),
  logRecordProcessors:
    logSink === 'otlp' ? [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter() })] : [],
  instrumentations: [
    getNodeAutoInstrumentations({
      // Health probes would bury the traffic, as in the Python services.
      '@opentelemetry/instrumentation-http': {
        ignoreIncomingRequestHook: (req) => probes.has((req.url || '').split('?')[0]),
      },
      // Express's own middleware (JSON parsing, routing) as spans would hide the flow: one
      // span per route handler is enough. Express 5 routes with the `router` package, whose
      // instrumentation would add a second span for every layer the express one wraps.
      '@opentelemetry/instrumentation-express': { ignoreLayersType: ['middleware'] },
      '@opentelemetry/instrumentation-router': { enabled: false },
      '@opentelemetry/instrumentation-pino': { disableLogSending: logSink !== 'otlp' },
      // File-system and DNS spans say nothing about the order flow.
      '@opentelemetry/instrumentation-fs': { enabled: false },
      '@opentelemetry/instrumentation-dns': { enabled: false },
      '@opentelemetry/instrumentation-net': { enabled: false },
      // The Kafka producer of the log sink must not trace its own sends.
      '@opentelemetry/instrumentation-kafkajs': { enabled: false },
    }),
  ],
});
sdk.start();

module.exports = { sdk, logSink };
