"""The Lambda handler module `otel_bootstrap.handler`: sets up the
OpenTelemetry Python SDK as an OpenTelemetry Lambda wrapper does, with the
aws-lambda and boto3sqs instrumentations, then hands the instrumented
function named by ORIG_HANDLER to the runtime (awslambdaric).

Spans go to the extension over OTLP/HTTP protobuf (the exporter reads
OTEL_EXPORTER_OTLP_ENDPOINT). Every batch the exporter sends is also
appended to E2E_RECORD as one JSON line holding the ExportTraceServiceRequest
the SDK's own encoder made of it (base64): the test's oracle works from
exactly what the function emitted.
"""

import base64
import json
import os
import threading
import time
from importlib import import_module

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


class RecordingExporter(SpanExporter):
    """Exports through `inner`; appends each batch it delivered to `path`."""

    def __init__(self, inner, path):
        self._inner = inner
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans):
        result = self._inner.export(spans)
        line = json.dumps({
            "request": base64.b64encode(encode_spans(spans).SerializeToString()).decode(),
            "spans": len(spans),
            "result": result.name,
            "exported_at": time.time(),
        })
        with self._lock, open(self._path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        return result

    def shutdown(self):
        self._inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self._inner.force_flush(timeout_millis)


provider = TracerProvider(resource=Resource.create({"service.name": os.environ["AWS_LAMBDA_FUNCTION_NAME"]}))
provider.add_span_processor(BatchSpanProcessor(RecordingExporter(OTLPSpanExporter(), os.environ["E2E_RECORD"])))
trace.set_tracer_provider(provider)

from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor  # noqa: E402
from opentelemetry.instrumentation.boto3sqs import Boto3SQSInstrumentor  # noqa: E402

Boto3SQSInstrumentor().instrument(tracer_provider=provider)
AwsLambdaInstrumentor().instrument(tracer_provider=provider)

_module, _function = os.environ["ORIG_HANDLER"].rsplit(".", 1)
handler = getattr(import_module(_module), _function)
