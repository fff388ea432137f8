// A small app recording metrics with the OpenTelemetry JS SDK and exporting
// them through the gateway with the SDK's OTLP metric exporter at its
// default temporality (cumulative), in three collection rounds.
//
//   node otel_js_metrics_app.js PROTOCOL GRPC_URL HTTP_URL OUT_JSON
//     PROTOCOL  grpc | http/protobuf | http/json
//
// Instruments: a counter, an up-down counter, an explicit-bucket histogram,
// an exponential histogram (through a view), an observable counter and an
// observable gauge, each with attributes. OUT_JSON gets, per export, the
// bytes the SDK's protobuf serializer produced for the batch (base64) and
// the export results.
'use strict';

const fs = require('node:fs');
const { MeterProvider, PeriodicExportingMetricReader, AggregationType } = require('@opentelemetry/sdk-metrics');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ExportResultCode } = require('@opentelemetry/core');
const { ProtobufMetricsSerializer } = require('@opentelemetry/otlp-transformer');

const [protocol, grpcUrl, httpUrl, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: otel_js_metrics_app.js PROTOCOL GRPC_URL HTTP_URL OUT_JSON');
  process.exit(2);
}

const suffix = { grpc: 'grpc', 'http/protobuf': 'proto', 'http/json': 'http' }[protocol];
if (!suffix) throw new Error(`unknown protocol ${protocol}`);
const { OTLPMetricExporter } = require(`@opentelemetry/exporter-metrics-otlp-${suffix}`);

const results = [];
const sent = [];

async function main() {
  // No temporalityPreference: the SDK's default, cumulative.
  const inner = new OTLPMetricExporter({
    url: protocol === 'grpc' ? grpcUrl : `${httpUrl}/v1/metrics`, timeoutMillis: 10000,
  });
  const exporter = Object.create(inner);
  exporter.export = (batch, done) => {
    sent.push(Buffer.from(ProtobufMetricsSerializer.serializeRequest(batch)).toString('base64'));
    inner.export(batch, (result) => {
      results.push({ code: result.code, error: result.error ? String(result.error) : '' });
      done(result);
    });
  };
  const resource = resourceFromAttributes({
    'service.name': `e2e-js-metrics-${protocol.replace('/', '-')}`,
    'e2e.run': String(process.pid),
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 600000, exportTimeoutMillis: 10000 })],
    views: [{ instrumentName: 'e2e.payload.size', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  const meter = meterProvider.getMeter('e2e-js-metrics', '1.0.0');
  const orders = meter.createCounter('e2e.orders', { unit: '{order}' });
  const inflight = meter.createUpDownCounter('e2e.inflight', { unit: '{request}' });
  const duration = meter.createHistogram('e2e.duration', { unit: 'ms' });
  const payload = meter.createHistogram('e2e.payload.size', { unit: 'By' });
  let cpu = 0;
  meter.createObservableCounter('e2e.cpu.time', { unit: 's' })
      .addCallback((r) => r.observe(cpu, { 'cpu.mode': 'user' }));
  let temperature = 20;
  meter.createObservableGauge('e2e.temperature', { unit: 'Cel' })
      .addCallback((r) => r.observe(temperature, { room: 'lab' }));

  const rounds = [
    { orders: [[3, 'orders'], [4, 'payments']], inflight: 5, durations: [1.5, 7, 42], sizes: [100, 120, 3000] },
    { orders: [[2, 'orders']], inflight: -2, durations: [250, 3], sizes: [90, 5000, 70000] },
    { orders: [[1, 'orders'], [6, 'payments'], [1, 'refunds']], inflight: 1, durations: [12], sizes: [1] },
  ];
  for (const round of rounds) {
    for (const [n, queue] of round.orders) orders.add(n, { queue });
    inflight.add(round.inflight, { queue: 'orders' });
    for (const d of round.durations) duration.record(d, { route: '/checkout' });
    for (const s of round.sizes) payload.record(s, { route: '/upload' });
    cpu += 0.75;
    temperature += 1.5;
    await meterProvider.forceFlush();
    // Distinct collection timestamps between rounds.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await meterProvider.shutdown();

  fs.writeFileSync(outFile, JSON.stringify({ protocol, service: resource.attributes['service.name'], results, sent }));
  const failed = results.filter((r) => r.code !== ExportResultCode.SUCCESS).map((r) => r.error);
  if (failed.length || results.length < rounds.length) {
    console.error(`export failures: ${failed.join('; ')} (${results.length} exports)`);
    process.exit(1);
  }
  console.log(`exported ${protocol}: ${results.length} metric exports`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
