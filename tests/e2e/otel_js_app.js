// A small app instrumented by hand with the OpenTelemetry JS SDK, exporting
// through the gateway with the SDK's own OTLP exporters.
//
//   node otel_js_app.js PROTOCOL COMPRESSION GRPC_URL HTTP_URL OUT_JSON
//     PROTOCOL     grpc | http/protobuf | http/json
//     COMPRESSION  gzip | none
//
// Traces, in two batches (forceFlush between them):
//   batch 1: producer "orders publish" (PRODUCER, trace A); "handle order"
//            (INTERNAL, child of the consumer) and "db insert" (its child),
//            both in trace B: they arrive before their parent does
//   batch 2: consumer "orders process" (CONSUMER, root of trace B, with a
//            link to the producer span)
// Metrics (a counter and a histogram) and two log records are exported once.
// OUT_JSON gets the span ids and, for metrics and logs, the bytes that the
// SDK's protobuf serializer (the one its grpc and http/protobuf exporters put
// on the wire) produced for each exported batch, base64.
'use strict';

const fs = require('node:fs');
const api = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ExportResultCode } = require('@opentelemetry/core');
const { AggregationTemporalityPreference } = require('@opentelemetry/exporter-metrics-otlp-http');
const { ProtobufMetricsSerializer, ProtobufLogsSerializer } = require('@opentelemetry/otlp-transformer');

const [protocol, compression, grpcUrl, httpUrl, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: otel_js_app.js PROTOCOL COMPRESSION GRPC_URL HTTP_URL OUT_JSON');
  process.exit(2);
}

function exporterModule(signal) {
  const suffix = { grpc: 'grpc', 'http/protobuf': 'proto', 'http/json': 'http' }[protocol];
  if (!suffix) throw new Error(`unknown protocol ${protocol}`);
  return require(`@opentelemetry/exporter-${signal}-otlp-${suffix}`);
}

function exporterConfig(signal) {
  const url = protocol === 'grpc' ? grpcUrl : `${httpUrl}/v1/${signal}`;
  const config = { url, compression, timeoutMillis: 10000 };
  // Dynatrace ingests delta metrics only; its docs tell SDKs to send delta.
  if (signal === 'metrics') config.temporalityPreference = AggregationTemporalityPreference.DELTA;
  return config;
}

const results = { traces: [], metrics: [], logs: [] };
const sent = { metrics: [], logs: [] };

// Delegates to `inner`, recording each export's result and (for metrics and
// logs) the protobuf bytes of the batch.
function capturing(signal, inner, serializer) {
  const wrapper = Object.create(inner);
  wrapper.export = (items, done) => {
    if (serializer) sent[signal].push(Buffer.from(serializer.serializeRequest(items)).toString('base64'));
    inner.export(items, (result) => {
      results[signal].push({ code: result.code, error: result.error ? String(result.error) : '' });
      done(result);
    });
  };
  return wrapper;
}

const resource = resourceFromAttributes({
  'service.name': `e2e-otel-js-${protocol.replace('/', '-')}-${compression}`,
  'e2e.run': String(process.pid),
});

async function main() {
  const traceExporter = capturing('traces',
      new (exporterModule('trace').OTLPTraceExporter)(exporterConfig('traces')), null);
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(traceExporter, { scheduledDelayMillis: 60000 })],
  });
  const tracer = tracerProvider.getTracer('e2e-otel-js', '1.0.0');

  const producer = tracer.startSpan('orders publish', {
    kind: api.SpanKind.PRODUCER,
    attributes: { 'messaging.system': 'e2e', 'messaging.destination.name': 'orders' },
  });
  producer.end();
  const consumer = tracer.startSpan('orders process', {
    kind: api.SpanKind.CONSUMER,
    root: true,
    links: [{ context: producer.spanContext(), attributes: { 'e2e.link': 'producer' } }],
    attributes: { 'messaging.system': 'e2e', 'messaging.operation': 'process' },
  });
  const consumerCtx = api.trace.setSpan(api.ROOT_CONTEXT, consumer);
  const child = tracer.startSpan('handle order', { kind: api.SpanKind.INTERNAL }, consumerCtx);
  const grandchild = tracer.startSpan('db insert', { kind: api.SpanKind.CLIENT },
                                      api.trace.setSpan(api.ROOT_CONTEXT, child));
  grandchild.end();
  child.end();
  await tracerProvider.forceFlush();  // batch 1: producer, grandchild, child
  consumer.end();
  await tracerProvider.forceFlush();  // batch 2: consumer

  const metricExporter = capturing('metrics',
      new (exporterModule('metrics').OTLPMetricExporter)(exporterConfig('metrics')),
      ProtobufMetricsSerializer);
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter, exportIntervalMillis: 600000, exportTimeoutMillis: 10000,
  });
  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  const meter = meterProvider.getMeter('e2e-otel-js', '1.0.0');
  const counter = meter.createCounter('e2e.messages', { unit: '{message}' });
  counter.add(3, { queue: 'orders' });
  counter.add(4, { queue: 'payments' });
  const histogram = meter.createHistogram('e2e.duration', { unit: 'ms' });
  for (const v of [1.5, 7, 42, 250]) histogram.record(v, { queue: 'orders' });
  await meterProvider.forceFlush();

  const logExporter = capturing('logs',
      new (exporterModule('logs').OTLPLogExporter)(exporterConfig('logs')),
      ProtobufLogsSerializer);
  const loggerProvider = new LoggerProvider({
    resource, processors: [new SimpleLogRecordProcessor({ exporter: logExporter })],
  });
  const logger = loggerProvider.getLogger('e2e-otel-js', '1.0.0');
  logger.emit({ severityNumber: 9, severityText: 'INFO', body: 'order received',
                attributes: { 'order.id': 'o-1', 'order.items': 3 }, context: consumerCtx });
  logger.emit({ severityNumber: 17, severityText: 'ERROR', body: { reason: 'out of stock', code: 409 },
                attributes: { 'order.id': 'o-2' } });
  await loggerProvider.forceFlush();

  await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()]);

  const ids = (s) => ({ trace_id: s.spanContext().traceId, span_id: s.spanContext().spanId });
  const out = {
    protocol, compression, service: resource.attributes['service.name'],
    producer: ids(producer), consumer: ids(consumer), child: ids(child), grandchild: ids(grandchild),
    results, sent,
  };
  fs.writeFileSync(outFile, JSON.stringify(out, null, 1));
  const failed = Object.entries(results).flatMap(([signal, rs]) =>
      rs.filter((r) => r.code !== ExportResultCode.SUCCESS).map((r) => `${signal}: ${r.error}`));
  const expected = { traces: 2, metrics: 1, logs: 2 };
  for (const [signal, n] of Object.entries(expected)) {
    if (results[signal].length < n) failed.push(`${signal}: ${results[signal].length} exports, want ${n}`);
  }
  if (failed.length) {
    console.error(`export failures: ${failed.join('; ')}`);
    process.exit(1);
  }
  console.log(`exported ${protocol} ${compression}: ${JSON.stringify(results)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
