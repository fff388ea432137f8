"""OpenTelemetry Python SDK set-up shared by the e2e apps: an OTLP exporter
(http/protobuf or grpc) to the gateway, wrapped so that every span it
exports is also appended to a JSON-lines record file with the time of the
export. The test's oracle works from that record: what the real
instrumentations emitted, not ids written by hand.

    provider = telemetry.setup("sqs-receiver", protocol, endpoint, record_path)
    BotocoreInstrumentor().instrument(tracer_provider=provider) ...
    ... work ...
    telemetry.shutdown(provider)

One record line per span:
  {"trace_id","span_id","parent_span_id" (hex, "" for none),
   "parent_is_remote", "name", "kind" (OTLP number), "scope", "service",
   "attributes", "links":[{"trace_id","span_id","is_remote","sampled",
   "attributes"}], "start_ns","end_ns","status", "sampled",
   "exported_at" (time.time() when the batch was handed to the exporter),
   "protocol"}
and one line per export call: {"export_result": "SUCCESS"|"FAILURE", ...}.
"""

import json
import os
import threading
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

# OTLP Span.SpanKind numbers for the SDK's SpanKind.
_OTLP_KIND = {
    trace.SpanKind.INTERNAL: 1,
    trace.SpanKind.SERVER: 2,
    trace.SpanKind.CLIENT: 3,
    trace.SpanKind.PRODUCER: 4,
    trace.SpanKind.CONSUMER: 5,
}


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def span_record(span, exported_at, protocol):
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent is not None else "",
        "parent_is_remote": bool(parent is not None and parent.is_remote),
        "sampled": bool(ctx.trace_flags.sampled),
        "name": span.name,
        "kind": _OTLP_KIND[span.kind],
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else "",
        "service": span.resource.attributes.get("service.name", ""),
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "links": [{
            "trace_id": f"{link.context.trace_id:032x}",
            "span_id": f"{link.context.span_id:016x}",
            "is_remote": bool(link.context.is_remote),
            "sampled": bool(link.context.trace_flags.sampled),
            "attributes": {k: _plain(v) for k, v in (link.attributes or {}).items()},
        } for link in span.links],
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "exported_at": exported_at,
        "protocol": protocol,
    }


class RecordingExporter(SpanExporter):
    """Exports through `inner` and appends what it exported to `path`."""

    def __init__(self, inner, path, protocol):
        self._inner = inner
        self._path = path
        self._protocol = protocol
        self._lock = threading.Lock()

    def export(self, spans):
        now = time.time()
        lines = [json.dumps(span_record(s, now, self._protocol)) for s in spans]
        result = self._inner.export(spans)
        lines.append(json.dumps({"export_result": result.name, "spans": len(spans),
                                 "exported_at": now, "pid": os.getpid()}))
        with self._lock, open(self._path, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
        return result

    def shutdown(self):
        self._inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self._inner.force_flush(timeout_millis)


def otlp_exporter(protocol, endpoint):
    """The SDK's own OTLP span exporter for `protocol` ("http/protobuf" with
    the gateway's base URL, or "grpc" with http://host:port)."""
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=10)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=10)
    raise ValueError(f"unknown OTLP protocol {protocol!r}")


def setup(service_name, protocol, endpoint, record_path):
    """A TracerProvider (also set as the global one) whose spans go to the
    gateway through the SDK's BatchSpanProcessor with its default delays."""
    resource = Resource.create({"service.name": service_name, "e2e.pid": os.getpid()})
    provider = TracerProvider(resource=resource)
    exporter = RecordingExporter(otlp_exporter(protocol, endpoint), record_path, protocol)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def setup_from_env(service_name):
    """setup() from E2E_OTLP_PROTOCOL, E2E_OTLP_ENDPOINT and E2E_RECORD (for
    processes started by another program, such as the Lambda runtime)."""
    return setup(service_name, os.environ["E2E_OTLP_PROTOCOL"], os.environ["E2E_OTLP_ENDPOINT"],
                 os.environ["E2E_RECORD"])


def shutdown(provider):
    provider.force_flush()
    provider.shutdown()


def read_record(path):
    """(spans, export results) from a record file; missing file: empty."""
    spans, results = [], []
    if not os.path.exists(path):
        return spans, results
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            item = json.loads(line)
            (results if "export_result" in item else spans).append(item)
    return spans, results
