'use strict';
// Serializes one OTLP traces, metrics and logs request with the OpenTelemetry
// JS SDK's own protobuf serializers (@opentelemetry/otlp-transformer), so
// that tests/proto/js_crosscheck_test.cc can check our generated C++ classes
// read every field where a third party writes it.
//
//   node tests/proto/js/serialize_otlp.js OUTDIR
//
// Writes OUTDIR/{traces,metrics,logs}.pb and OUTDIR/expected.json (the values
// the C++ test compares against). Modules resolve through NODE_PATH.

const fs = require('fs');
const path = require('path');

const api = require('@opentelemetry/api');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, SimpleSpanProcessor, InMemorySpanExporter } = require('@opentelemetry/sdk-trace-base');
const { MeterProvider, MetricReader, AggregationType } = require('@opentelemetry/sdk-metrics');
const { LoggerProvider, SimpleLogRecordProcessor, InMemoryLogRecordExporter } = require('@opentelemetry/sdk-logs');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const {
  ProtobufTraceSerializer,
  ProtobufMetricsSerializer,
  ProtobufLogsSerializer,
} = require('@opentelemetry/otlp-transformer');

const RESOURCE_SCHEMA_URL = 'https://opentelemetry.io/schemas/1.26.0';
const SCOPE_SCHEMA_URL = 'https://opentelemetry.io/schemas/1.24.0';

const REMOTE_PARENT = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: api.TraceFlags.SAMPLED,
  isRemote: true,
  traceState: undefined,
};
const LINKED = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: api.TraceFlags.SAMPLED,
  isRemote: true,
  traceState: api.createTraceState('vendor=abc,other=x1'),
};
const LINKED_LOCAL = {
  traceId: '11111111111111111111111111111111',
  spanId: '2222222222222222',
  traceFlags: api.TraceFlags.NONE,
  isRemote: false,
};

function resource() {
  return resourceFromAttributes(
    { 'service.name': 'crosscheck', 'service.instance.id': 7, 'host.arch.flag': true },
    { schemaUrl: RESOURCE_SCHEMA_URL },
  );
}

// Deterministic ids, so the C++ side can name them: span ids a000...0001,
// a000...0002, ... in creation order; trace ids come from the remote parent.
class SequentialIds {
  constructor() { this.next = 1; }
  generateTraceId() { return 'c0ffee00000000000000000000000001'; }
  generateSpanId() { return `a${(this.next++).toString(16).padStart(15, '0')}`; }
}

async function traces() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resource(),
    idGenerator: new SequentialIds(),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    spanLimits: {
      attributeCountLimit: 9,
      linkCountLimit: 2,
      eventCountLimit: 2,
      attributePerEventCountLimit: 1,
      attributePerLinkCountLimit: 1,
    },
  });
  const tracer = provider.getTracer('crosscheck-scope', '1.2.3', { schemaUrl: SCOPE_SCHEMA_URL });
  const parentContext = api.trace.setSpanContext(api.ROOT_CONTEXT, REMOTE_PARENT);

  const consumer = tracer.startSpan(
    'orders process',
    {
      kind: api.SpanKind.CONSUMER,
      startTime: [1700000000, 123456789],
      attributes: {
        's': 'text',
        'b': true,
        'i': 42,
        'd': 2.5,
        'neg': -7,
        'as': ['x', 'y'],
        'ab': [true, false],
        'ai': [1, 2, 3],
        'ad': [0.5, 1.5],
        'over.limit.1': 'dropped',
        'over.limit.2': 'dropped',
      },
      // The SDK drops the oldest link past linkCountLimit.
      links: [
        { context: LINKED_LOCAL, attributes: { dropped: 'link' } },
        { context: LINKED_LOCAL },
        { context: LINKED, attributes: { 'link.a': 'kept', 'link.b': 'dropped' } },
      ],
    },
    parentContext,
  );
  // The SDK drops the oldest event past eventCountLimit.
  consumer.addEvent('dropped', {}, [1700000000, 200000000]);
  consumer.addEvent('second', { 'event.a': 1, 'event.b': 'dropped' }, [1700000000, 300000000]);
  consumer.addEvent('third', {}, [1700000000, 400000000]);
  consumer.setStatus({ code: api.SpanStatusCode.ERROR, message: 'queue unavailable' });
  consumer.end([1700000001, 0]);

  // One span per remaining kind, children of the consumer (local parent).
  const kinds = [api.SpanKind.INTERNAL, api.SpanKind.SERVER, api.SpanKind.CLIENT, api.SpanKind.PRODUCER];
  const children = kinds.map((kind, index) => {
    const span = tracer.startSpan(`child ${index}`, { kind, startTime: [1700000000, 500000000] },
      api.trace.setSpan(api.ROOT_CONTEXT, consumer));
    if (index === 0) span.setStatus({ code: api.SpanStatusCode.OK });
    span.end([1700000000, 600000000 + index]);
    return span;
  });

  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  const c = consumer.spanContext();
  const expected = {
    resourceSchemaUrl: RESOURCE_SCHEMA_URL,
    scopeName: 'crosscheck-scope',
    scopeVersion: '1.2.3',
    scopeSchemaUrl: SCOPE_SCHEMA_URL,
    spanCount: spans.length,
    consumer: {
      traceId: c.traceId,
      spanId: c.spanId,
      parentSpanId: REMOTE_PARENT.spanId,
      name: 'orders process',
      kind: 5,
      // W3C sampled | has-is-remote | is-remote
      flags: 0x301,
      startTimeUnixNano: '1700000000123456789',
      endTimeUnixNano: '1700000001000000000',
      attributeCount: 9,
      droppedAttributesCount: 2,
      eventCount: 2,
      event0: { name: 'second', timeUnixNano: '1700000000300000000', attribute: ['event.a', 1], droppedAttributesCount: 1 },
      event1: { name: 'third', timeUnixNano: '1700000000400000000' },
      droppedEventsCount: 1,
      linkCount: 2,
      droppedLinksCount: 1,
      statusCode: 2,
      statusMessage: 'queue unavailable',
      link0: { traceId: LINKED_LOCAL.traceId, spanId: LINKED_LOCAL.spanId, flags: 0x100 },
      link1: {
        traceId: LINKED.traceId,
        spanId: LINKED.spanId,
        traceState: 'vendor=abc,other=x1',
        flags: 0x301,
        attribute: ['link.a', 'kept'],
        droppedAttributesCount: 1,
      },
    },
    children: children.map((span, index) => ({
      spanId: span.spanContext().spanId,
      kind: [1, 2, 3, 4][index],
      // Local parent: has-is-remote set, is-remote clear.
      flags: 0x101,
      statusCode: index === 0 ? 1 : 0,
    })),
  };
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  return { bytes, expected };
}

class CollectingReader extends MetricReader {
  onForceFlush() { return Promise.resolve(); }
  onShutdown() { return Promise.resolve(); }
}

async function metrics() {
  const reader = new CollectingReader();
  const provider = new MeterProvider({
    resource: resource(),
    readers: [reader],
    views: [
      { instrumentName: 'latency.exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } },
      {
        instrumentName: 'latency',
        aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: [1, 10, 100] } },
      },
    ],
  });
  const meter = provider.getMeter('crosscheck-meter', '0.1.0', { schemaUrl: SCOPE_SCHEMA_URL });
  meter.createGauge('temperature', { unit: 'Cel', description: 'a gauge' }).record(21.5, { room: 'a' });
  meter.createCounter('requests', { unit: '{request}' }).add(3, { route: '/x' });
  meter.createUpDownCounter('queue.depth', { valueType: api.ValueType.INT }).add(-4);
  const histogram = meter.createHistogram('latency', { unit: 'ms' });
  for (const v of [0.5, 5, 50, 500, 7]) histogram.record(v);
  const exp = meter.createHistogram('latency.exp', { unit: 'ms' });
  for (const v of [1, 2, 4, 8]) exp.record(v);

  const { resourceMetrics, errors } = await reader.collect();
  if (errors.length) throw new Error(`metric collection failed: ${errors}`);
  const expected = {
    resourceSchemaUrl: RESOURCE_SCHEMA_URL,
    scopeName: 'crosscheck-meter',
    scopeVersion: '0.1.0',
    scopeSchemaUrl: SCOPE_SCHEMA_URL,
    gauge: { name: 'temperature', unit: 'Cel', description: 'a gauge', asDouble: 21.5, attribute: ['room', 'a'] },
    // Cumulative temporality (2); monotonic counter.
    sum: { name: 'requests', asDouble: 3, isMonotonic: true, temporality: 2 },
    upDown: { name: 'queue.depth', asInt: -4, isMonotonic: false, temporality: 2 },
    histogram: {
      name: 'latency', count: 5, sum: 562.5, min: 0.5, max: 500,
      bucketCounts: [1, 2, 1, 1], explicitBounds: [1, 10, 100], temporality: 2,
    },
    exponentialHistogram: { name: 'latency.exp', count: 4, sum: 15, min: 1, max: 8, temporality: 2 },
  };
  const bytes = ProtobufMetricsSerializer.serializeRequest(resourceMetrics);
  await provider.shutdown();
  return { bytes, expected };
}

async function logs() {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resource(),
    processors: [new SimpleLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('crosscheck-logger', '9.9.9', { schemaUrl: SCOPE_SCHEMA_URL });
  const spanContext = {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    traceFlags: api.TraceFlags.SAMPLED,
  };
  logger.emit({
    timestamp: [1700000002, 5],
    observedTimestamp: [1700000003, 6],
    severityNumber: SeverityNumber.WARN,
    severityText: 'WARN',
    eventName: 'order.rejected',
    body: {
      reason: 'stock',
      count: 3,
      ratio: 0.25,
      ok: false,
      tags: ['a', 'b'],
      nested: { deep: 'yes' },
      raw: new Uint8Array([0, 1, 254, 255]),
    },
    attributes: { 'log.attr': 'v', 'log.int': 11 },
    context: api.trace.setSpanContext(api.ROOT_CONTEXT, spanContext),
  });
  await provider.forceFlush();
  const records = exporter.getFinishedLogRecords();
  const expected = {
    resourceSchemaUrl: RESOURCE_SCHEMA_URL,
    scopeName: 'crosscheck-logger',
    scopeVersion: '9.9.9',
    scopeSchemaUrl: SCOPE_SCHEMA_URL,
    timeUnixNano: '1700000002000000005',
    observedTimeUnixNano: '1700000003000000006',
    severityNumber: 13,
    severityText: 'WARN',
    eventName: 'order.rejected',
    traceId: spanContext.traceId,
    spanId: spanContext.spanId,
    flags: 1,
    bodyKeys: ['reason', 'count', 'ratio', 'ok', 'tags', 'nested', 'raw'],
  };
  if (records.length !== 1) throw new Error(`expected one log record, got ${records.length}`);
  const bytes = ProtobufLogsSerializer.serializeRequest(records);
  return { bytes, expected };
}

async function main() {
  const outdir = process.argv[2];
  if (!outdir) throw new Error('usage: serialize_otlp.js OUTDIR');
  fs.mkdirSync(outdir, { recursive: true });
  const t = await traces();
  const m = await metrics();
  const l = await logs();
  for (const [name, blob] of [['traces', t.bytes], ['metrics', m.bytes], ['logs', l.bytes]]) {
    if (!(blob instanceof Uint8Array) || blob.length === 0) throw new Error(`${name}: serializer returned nothing`);
    fs.writeFileSync(path.join(outdir, `${name}.pb`), blob);
  }
  fs.writeFileSync(path.join(outdir, 'expected.json'),
    JSON.stringify({ traces: t.expected, metrics: m.expected, logs: l.expected }, null, 2));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
