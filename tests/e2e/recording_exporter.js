// An OTLP trace exporter to the gateway (http/protobuf, or gRPC when asked)
// that also records
// what it exported (ids, parent, kind, scope, attributes, links) and how each
// export ended, so an e2e app can write both out for its test to compare
// with what reached the fake Dynatrace.
//
//   const { exporter, exported, results } = recordingExporter(`${httpUrl}/v1/traces`);
//   recordingExporter(`http://127.0.0.1:${grpcPort}`, { protocol: 'grpc' });
'use strict';

function recordingExporter(url, { protocol = 'http/protobuf' } = {}) {
  const exported = [];
  const results = [];
  const module = { grpc: 'grpc', 'http/protobuf': 'proto' }[protocol];
  if (!module) throw new Error(`unknown protocol ${protocol}`);
  const { OTLPTraceExporter } = require(`@opentelemetry/exporter-trace-otlp-${module}`);
  const inner = new OTLPTraceExporter({ url, timeoutMillis: 10000 });
  const exporter = Object.create(inner);
  exporter.export = (spans, done) => {
    for (const s of spans) {
      exported.push({
        name: s.name,
        kind: s.kind,
        scope: s.instrumentationScope.name,
        trace_id: s.spanContext().traceId,
        span_id: s.spanContext().spanId,
        parent_span_id: s.parentSpanContext ? s.parentSpanContext.spanId : '',
        attributes: s.attributes,
        links: s.links.map((l) => ({ trace_id: l.context.traceId, span_id: l.context.spanId,
                                     attributes: l.attributes })),
      });
    }
    inner.export(spans, (r) => {
      results.push({ code: r.code, error: r.error ? String(r.error) : '' });
      done(r);
    });
  };
  return { exporter, exported, results };
}

module.exports = { recordingExporter };
