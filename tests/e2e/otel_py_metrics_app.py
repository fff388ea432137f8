"""A small app recording metrics with the OpenTelemetry Python SDK and
exporting them through the gateway with the SDK's OTLP metric exporter at its
default temporality (cumulative), in three collection rounds.

  python otel_py_metrics_app.py PROTOCOL GRPC_ENDPOINT HTTP_URL OUT_JSON
    PROTOCOL  grpc | http/protobuf

Instruments: a counter, an up-down counter, an explicit-bucket histogram, an
exponential histogram (through a view), an observable counter and an
observable gauge, each with attributes. OUT_JSON gets, per export, the bytes
the SDK's own OTLP encoder produced for the batch (base64) and whether the
export succeeded.
"""

import base64
import json
import os
import sys
import time

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource


def main():
    if len(sys.argv) != 5:
        print("usage: otel_py_metrics_app.py PROTOCOL GRPC_ENDPOINT HTTP_URL OUT_JSON", file=sys.stderr)
        return 2
    protocol, grpc_endpoint, http_url, out_file = sys.argv[1:]
    # The SDK's default temporality, whatever the environment says.
    os.environ.pop("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", None)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=grpc_endpoint, insecure=True, timeout=10)
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=f"{http_url}/v1/metrics", timeout=10)
    else:
        raise SystemExit(f"unknown protocol {protocol}")

    sent, results = [], []
    inner_export = exporter.export

    def export(metrics_data, timeout_millis=10_000, **kwargs):
        sent.append(base64.b64encode(encode_metrics(metrics_data).SerializeToString()).decode())
        result = inner_export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        results.append(result == MetricExportResult.SUCCESS)
        return result

    exporter.export = export

    service = f"e2e-py-metrics-{protocol.replace('/', '-')}"
    resource = Resource.create({"service.name": service, "e2e.run": str(os.getpid())})
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=600_000)
    provider = MeterProvider(
        resource=resource,
        metric_readers=[reader],
        views=[View(instrument_name="e2e.payload.size", aggregation=ExponentialBucketHistogramAggregation())],
    )
    meter = provider.get_meter("e2e-py-metrics", "1.0.0")
    orders = meter.create_counter("e2e.orders", unit="{order}")
    inflight = meter.create_up_down_counter("e2e.inflight", unit="{request}")
    duration = meter.create_histogram("e2e.duration", unit="ms")
    payload = meter.create_histogram("e2e.payload.size", unit="By")
    state = {"cpu": 0.0, "temperature": 20.0}
    meter.create_observable_counter(
        "e2e.cpu.time", callbacks=[lambda options: [Observation(state["cpu"], {"cpu.mode": "user"})]], unit="s")
    meter.create_observable_gauge(
        "e2e.temperature", callbacks=[lambda options: [Observation(state["temperature"], {"room": "lab"})]],
        unit="Cel")

    rounds = [
        {"orders": [(3, "orders"), (4, "payments")], "inflight": 5, "durations": [1.5, 7, 42],
         "sizes": [100, 120, 3000]},
        {"orders": [(2, "orders")], "inflight": -2, "durations": [250, 3], "sizes": [90, 5000, 70000]},
        {"orders": [(1, "orders"), (6, "payments"), (1, "refunds")], "inflight": 1, "durations": [12],
         "sizes": [1]},
    ]
    for r in rounds:
        for n, queue in r["orders"]:
            orders.add(n, {"queue": queue})
        inflight.add(r["inflight"], {"queue": "orders"})
        for d in r["durations"]:
            duration.record(d, {"route": "/checkout"})
        for s in r["sizes"]:
            payload.record(s, {"route": "/upload"})
        state["cpu"] += 0.75
        state["temperature"] += 1.5
        provider.force_flush()
        time.sleep(0.02)  # distinct collection timestamps
    provider.shutdown()

    with open(out_file, "w") as f:
        json.dump({"protocol": protocol, "service": service, "sent": sent, "results": results}, f)
    if not results or not all(results) or len(results) < len(rounds):
        print(f"export failures: {results}", file=sys.stderr)
        return 1
    print(f"exported {protocol}: {len(results)} metric exports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
